"""A small dataset with one column per desensitization method, ingested for real.

Shared by the stored-type tests of the catalog (what Parquet holds) and of the
policy engine (what DuckDB accepts), so both judge the very same store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

import audit_log.records  # noqa: F401  (registers the audit table on Base)
import catalog.records  # noqa: F401  (registers the datasets table on Base)
from audit_log import Actor
from catalog.ingest import ingest
from catalog.schema import DatasetSchema, parse_schema
from core.db import Base
from core.home import Home

DATASET = "methods"
ROWS = 240
ACTOR = Actor("liu.authority", "authority")

# column: (schema type, method, the stored type that method must give it)
METHODS: dict[str, tuple[str, str, str]] = {
    "name": ("string", "keep", "string"),
    "qty": ("integer", "keep", "integer"),
    "price": ("double", "keep", "double"),
    "day": ("date", "keep", "date"),
    "moment": ("timestamp", "keep", "timestamp"),
    "flag": ("boolean", "keep", "boolean"),
    "code": ("string", "pseudonymize", "string"),
    "serial": ("integer", "pseudonymize", "string"),
    "phone": ("string", "mask", "string"),
    "born": ("date", "generalize:year", "date"),
    "visit": ("date", "generalize:month", "date"),
    "seen": ("timestamp", "generalize:year", "date"),
    "zip": ("string", "generalize:prefix:3", "string"),
    "area": ("integer", "generalize:prefix:2", "string"),
    "age": ("integer", "generalize:bucket:10", "integer"),
    "ratio": ("integer", "generalize:bucket:2.5", "double"),
    "income": ("double", "generalize:bucket:1000", "double"),
    "score": ("integer", "noise:1", "double"),
    "amount": ("double", "noise:5", "double"),
}


def method_schema() -> DatasetSchema:
    """Every method at L1, so only the type check can refuse a query over these columns."""
    columns: list[dict[str, object]] = [
        {"name": "id", "type": "string", "level": "L3", "role": "identifier"},
        {"name": "district", "type": "string", "level": "L1", "role": "dimension"},
        {"name": "gone", "type": "string", "level": "L2", "desensitize": "drop"},
    ]
    for name, (kind, method, _) in METHODS.items():
        columns.append({"name": name, "type": kind, "level": "L1", "desensitize": method})
    return parse_schema({"dataset": DATASET, "privacy_unit": "id", "columns": columns})


def method_frame(rows: int = ROWS, seed: int = 7) -> pd.DataFrame:
    """Raw values for every column, a few nulls included, written as a CSV would hold them."""
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("2000-01-01") + pd.to_timedelta(rng.integers(0, 9000, rows), unit="D")
    seconds = pd.to_timedelta(rng.integers(0, 86_400, rows), unit="s")
    frame = pd.DataFrame(
        {
            "id": [f"P{i:05d}" for i in range(rows)],
            "district": rng.choice(["海曙区", "江北区", "镇海区"], rows),
            "gone": "x",
            "name": rng.choice(["甲", "乙", "丙"], rows),
            "qty": rng.integers(0, 50, rows),
            "price": rng.uniform(1, 100, rows).round(2),
            "day": days.strftime("%Y-%m-%d"),
            "moment": (days + seconds).strftime("%Y-%m-%dT%H:%M:%S"),
            "flag": rng.choice(["true", "false"], rows),
            "code": [f"C{i % 37:03d}" for i in range(rows)],
            "serial": rng.integers(10_000, 99_999, rows),
            "phone": [f"138{n:08d}" for n in rng.integers(0, 10**8, rows)],
            "born": days.strftime("%Y-%m-%d"),
            "visit": days.strftime("%Y-%m-%d"),
            "seen": (days + seconds).strftime("%Y-%m-%d %H:%M:%S"),
            "zip": [f"315{n:03d}" for n in rng.integers(0, 999, rows)],
            "area": rng.integers(100, 999, rows),
            "age": rng.integers(18, 90, rows),
            "ratio": rng.integers(0, 40, rows),
            "income": rng.uniform(0, 50_000, rows).round(2),
            "score": rng.integers(0, 100, rows),
            "amount": rng.uniform(0, 500, rows).round(2),
        }
    ).astype(object)
    for column in METHODS:
        frame.loc[rows - 1 - len(column) % 5, column] = None
    return frame


def write_method_file(folder: Path) -> tuple[Path, DatasetSchema]:
    source = folder / f"{DATASET}.csv"
    method_frame().to_csv(source, index=False)
    return source, method_schema()


@contextmanager
def ingested(folder: Path, sources: list[tuple[Path, DatasetSchema]]) -> Iterator[dict[str, Path]]:
    """Ingest raw files into a fresh home under `folder`; yield each dataset's Parquet file."""
    home = Home(folder / "home")
    home.create()
    engine = create_engine(f"sqlite:///{folder}/catalog.db")
    Base.metadata.create_all(engine)
    try:
        with Session(engine) as session:
            found = {s.dataset: ingest(session, home, f, s, ACTOR) for f, s in sources}
            session.commit()
            yield {name: dataset.data_path(home) for name, dataset in found.items()}
    finally:
        engine.dispose()


def connect(parquet: dict[str, Path]) -> duckdb.DuckDBPyConnection:
    """DuckDB over the store, one view per dataset, as sandboxes see it."""
    con = duckdb.connect()
    con.execute("SET threads = 1")
    for name, path in parquet.items():
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    return con
