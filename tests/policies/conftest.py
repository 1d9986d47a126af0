"""Fixtures for the query corpora: one real domain per module, and what it holds.

The corpora submit hundreds of queries, so they share one world (built as
tests/conftest.py's `build_world` does) with a budget large enough for all of
them, plus the facts a test needs to judge a release on its own: the raw
identifiers, the desensitized store, and its public (L1) part alone.
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete

from catalog import list_datasets
from catalog.identifiers import normalise
from catalog.schema import DatasetSchema, load_schema
from core.levels import Level, Role
from gate.records import CellPopulation, PopulationPrefix
from operators.accounts import Principal, add_operator, add_user
from operators.licenses import grant_license
from sandbox.bubblewrap import unavailable_reason
from service.domain import init_domain
from service.settings import Settings
from tests.conftest import AUTHORITY, World, build_world, require_component

# ε (and δ, for keys chosen by DP) is charged per noisy query; the corpora must not run
# out of either halfway.
CORPUS_EPSILON = 1e9
CORPUS_DELTA = 0.5


@dataclass
class StoreFacts:
    """What the domain holds, for judging a release independently of the engine."""

    schemas: dict[str, DatasetSchema]
    parquet: dict[str, Path]
    identifiers: set[str]  # raw and stored (pseudonymized, masked) identifier values
    public_labels: set[str]  # every value of an L1 column, normalised
    # one row per enterprise: its non-identifier columns from both datasets, normalised
    wide: dict[str, np.ndarray]

    @property
    def enterprises(self) -> int:
        return len(next(iter(self.wide.values())))

    @functools.cached_property
    def secret_amounts(self) -> set[float]:
        """Each enterprise's own L3 amounts that carry cents: what an attacker wants."""
        found: set[float] = set()
        for schema in self.schemas.values():
            for column in schema.stored_columns:
                if column.level is not Level.L3 or column.bounds is None:
                    continue
                name = column.name if column.name in self.wide else f"{column.name}_si"
                values = pd.to_numeric(pd.Series(self.wide.get(name, [])), errors="coerce")
                cents = values.dropna().round(2)
                found |= {float(v) for v in cents if v != round(v)}
        return found

    @functools.cached_property
    def wide_sets(self) -> dict[str, set[str]]:
        return {column: set(values.tolist()) for column, values in self.wide.items()}

    def connect(self, public_only: bool = False) -> duckdb.DuckDBPyConnection:
        """DuckDB with one view per dataset: the whole store, or its L1 columns only."""
        con = duckdb.connect()
        con.execute("SET threads = 1")
        for name, path in self.parquet.items():
            columns = "*"
            if public_only:
                public = [c.name for c in self.schemas[name].stored_columns if c.level is Level.L1]
                columns = ", ".join(public) or "NULL::INTEGER AS __no_public_column"
            con.execute(f"CREATE VIEW {name} AS SELECT {columns} FROM read_parquet('{path}')")
        return con


def sandbox_world(
    tmp_path_factory: pytest.TempPathFactory,
    demo_files: list[tuple[Path, Path]],
    folder: str,
    **license_options: object,
) -> World:
    """A world whose jobs run in bubblewrap, for a whole test module."""
    require_component(shutil.which("bwrap") is not None, "bubblewrap (bwrap)")
    require_component(unavailable_reason() is None, f"bubblewrap: {unavailable_reason()}")
    home = tmp_path_factory.mktemp(folder) / "home"
    settings = Settings(home=home, database_url=None, sandbox_backend="bubblewrap")
    domain = init_domain(settings)[0]
    return build_world(domain, demo_files, **license_options)


@pytest.fixture(scope="module")
def corpus_world(
    tmp_path_factory: pytest.TempPathFactory, demo_files: list[tuple[Path, Path]]
) -> World:
    return sandbox_world(
        tmp_path_factory, demo_files, "corpus", epsilon=CORPUS_EPSILON, delta=CORPUS_DELTA
    )


@pytest.fixture(scope="module")
def store_facts(corpus_world: World, demo_files: list[tuple[Path, Path]]) -> StoreFacts:
    schemas = {}
    identifiers: set[str] = set()
    for data_file, schema_file in demo_files:
        schema = load_schema(schema_file)
        schemas[schema.dataset] = schema
        raw = pd.read_csv(data_file, dtype=str)
        for column in schema.columns:
            if column.role is Role.IDENTIFIER and column.name in raw:
                identifiers |= _texts(raw[column.name])
    store = corpus_world.domain.home.store
    parquet = {name: store / name / "data.parquet" for name in schemas}
    frames = {name: pd.read_parquet(path) for name, path in parquet.items()}
    labels: set[str] = set()
    for name, frame in frames.items():
        for column in schemas[name].stored_columns:
            if column.role is Role.IDENTIFIER:
                identifiers |= _texts(frame[column.name])
            elif column.level is Level.L1:
                labels |= _texts(frame[column.name])
    units = [s.privacy_unit for s in schemas.values()]
    assert len(set(units)) == 1, "the corpora assume both datasets share one privacy unit"
    unit = units[0]
    merged = frames["enterprise_utilities"].merge(
        frames["social_insurance"], on=unit, how="left", suffixes=("", "_si")
    )
    wide = {
        column: merged[column].map(normalise).to_numpy(dtype=object)
        for column in merged.columns
        if column != unit and not any(_is_identifier(s, column) for s in schemas.values())
    }
    return StoreFacts(schemas, parquet, identifiers, labels, wide)


def fresh_company(world: World, name: str, row_filters: dict[str, str] | None = None) -> World:
    """The same domain seen by a new company with its own license (over every dataset,
    limited by `row_filters` if given), and an empty differencing store.

    The gate compares an output with every output released or awaiting review in the
    domain (differencing by population), so an analysis judged on its own merits runs
    with no history: the store is emptied, as if the domain were new.
    """
    with world.domain.transaction() as session:
        session.execute(delete(PopulationPrefix))
        session.execute(delete(CellPopulation))
        add_operator(session, name, AUTHORITY)
        user = add_user(session, f"analyst-{name}", "operator", name, AUTHORITY)
        license = grant_license(
            session,
            operator=name,
            schemas={d.name: d.schema() for d in list_datasets(session)},
            max_level="L3",
            purpose="corpus analysis",
            valid_until=date.today() + timedelta(days=30),
            actor=AUTHORITY,
            epsilon=CORPUS_EPSILON,
            delta=CORPUS_DELTA,
            row_filters=row_filters,
        )
        return replace(world, license_id=license.id, operator=Principal.of(user))


def _is_identifier(schema: DatasetSchema, column: str) -> bool:
    spec = schema.column(column)
    return spec is not None and spec.role is Role.IDENTIFIER


def _texts(values: pd.Series) -> set[str]:
    return {t for t in (normalise(v) for v in values.dropna().unique().tolist()) if t}
