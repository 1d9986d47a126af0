"""Migrations that move data: a license's one row filter becomes a filter per dataset,
and nothing a license could not read before becomes readable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from alembic.config import Config
from pyroaring import BitMap64
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from catalog.records import schema_document
from catalog.schema import load_schema
from gate.differencing import TablePopulations
from gate.populations import check_new
from gate.sketches import sketch_of
from service.db import MIGRATIONS, make_engine

DEMO = Path(__file__).parents[2] / "catalog" / "demo"
E, S = "enterprise_utilities", "social_insurance"


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def _seed(url: str) -> None:
    """Two datasets and three licenses as revision 0006 stored them."""
    engine = make_engine(url)
    schemas = {E: "enterprise_utilities.yaml", S: "social_security.yaml"}
    with engine.begin() as connection:
        company = "INSERT INTO operators (id, name, created_at) VALUES (1, 'acme', '2026-01-01')"
        connection.execute(text(company))
        for name, file in schemas.items():
            document = json.dumps(schema_document(load_schema(DEMO / file)), ensure_ascii=False)
            connection.execute(
                text(
                    "INSERT INTO datasets (name, title, owner, privacy_unit, schema_json, version,"
                    " store_path, identifier_index_path, row_count, source_digest, ingested_at)"
                    " VALUES (:name, 't', 'o', 'enterprise_id', :schema, 1, 's', 'i', 1, 'd',"
                    " '2026-01-01')"
                ),
                {"name": name, "schema": document},
            )
        licenses = [
            (1, [E], "district = '镇海区'"),
            (2, [E, S], "enterprise_id IS NOT NULL"),  # a column both datasets have
            (3, [E, S], "district = '镇海区'"),  # social_insurance has no district
            (4, [E], None),
        ]
        for number, names, row_filter in licenses:
            connection.execute(
                text(
                    "INSERT INTO licenses (id, operator_id, datasets, max_level, purpose,"
                    " valid_until, row_filter, epsilon_total, epsilon_spent, status, granted_by,"
                    " created_at, scenario, decision_note)"
                    " VALUES (:id, 1, :datasets, 'L3', 'p', '2099-01-01', :row_filter, 1, 0,"
                    " 'active', 'a', '2026-01-01', '', '')"
                ),
                {"id": number, "datasets": json.dumps(names), "row_filter": row_filter},
            )
    engine.dispose()


def _column(url: str, column: str) -> dict[int, object]:
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT id, {column} FROM licenses ORDER BY id"))
        found = {row[0]: row[1] for row in rows}
    engine.dispose()
    return found


def test_one_row_filter_becomes_one_per_dataset_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(_config(url), "0006")
    _seed(url)
    command.upgrade(_config(url), "0007")
    filters = {k: json.loads(v) for k, v in _column(url, "row_filters").items()}
    assert filters == {
        1: {E: "district = '镇海区'"},
        2: {E: "enterprise_id IS NOT NULL", S: "enterprise_id IS NOT NULL"},
        # the old filter failed on social_insurance, so it was unreadable: it stays so
        3: {E: "district = '镇海区'", S: "FALSE"},
        4: {},
    }
    command.downgrade(_config(url), "0006")
    assert _column(url, "row_filter") == {
        1: "district = '镇海区'",
        2: "enterprise_id IS NOT NULL",
        3: "FALSE",  # two different filters cannot be one: no rows rather than more
        4: None,
    }


def test_licences_get_a_delta_budget_and_what_their_charges_spent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(_config(url), "0006")
    _seed(url)
    command.upgrade(_config(url), "0009")
    engine = make_engine(url)
    with engine.begin() as connection:
        for license_id, delta in ((1, 1e-6), (1, 1e-6), (2, 0.0)):
            connection.execute(
                text(
                    "INSERT INTO budget_charges (license_id, job_id, epsilon, delta, at)"
                    " VALUES (:license, 'j', 1, :delta, '2026-01-01')"
                ),
                {"license": license_id, "delta": delta},
            )
    engine.dispose()
    command.upgrade(_config(url), "0010")
    assert _column(url, "delta_total") == dict.fromkeys((1, 2, 3, 4), 1e-5)
    assert _column(url, "delta_spent") == {1: 2e-6, 2: 0.0, 3: 0.0, 4: 0.0}
    command.downgrade(_config(url), "0009")
    command.upgrade(_config(url), "head")


def test_units_numbered_before_are_packed_into_segments(tmp_path: Path) -> None:
    """Revision 0024 packs the existing numbering: large jobs read only the segments
    afterwards, so a unit left out would be taken for new and numbered twice."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(_config(url), "0023")
    rng = np.random.default_rng(24)
    digests = rng.integers(-(2**63), 2**63 - 1, 5000, dtype=np.int64).tolist()
    engine = make_engine(url)
    with engine.begin() as connection:
        insert = text("INSERT INTO population_units (digest) VALUES (:d)")
        connection.execute(insert, [{"d": digest} for digest in digests])  # in arrival order
        numbered = dict(connection.execute(text("SELECT digest, id FROM population_units")).all())
    command.upgrade(_config(url), "0024")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT units, digests, numbers FROM population_numbering"))
        packed: dict[int, int] = {}
        for units, blob, numbers in rows:
            keys = np.frombuffer(blob, dtype="<i8")
            assert units == len(keys) and np.all(np.diff(keys) > 0), "sorted, counted"
            beside = np.frombuffer(numbers, dtype="<i8").tolist()
            packed.update(zip(keys.tolist(), beside, strict=True))
    engine.dispose()
    assert packed == numbered and len(packed) == len(set(digests))


def test_stored_bitmaps_become_sketches_the_gate_compares(tmp_path: Path) -> None:
    """Revision 0025 turns each stored bitmap of unit numbers back into its units'
    digests, sketches them and indexes the lowest again: a cell kept before the upgrade
    is the sketch the gate would write, and a later job leaving out one of its units is
    still caught."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(_config(url), "0024")
    rng = np.random.default_rng(25)
    digests = rng.integers(-(2**63), 2**63 - 1, 3000, dtype=np.int64)
    cells = {1: digests[:40], 2: digests[100:2100], 3: digests[:0]}  # 40, 2,000 and no units
    engine = make_engine(url)
    with engine.begin() as connection:
        insert = text("INSERT INTO population_units (digest) VALUES (:d)")
        connection.execute(insert, [{"d": int(d)} for d in digests])
        number = dict(connection.execute(text("SELECT digest, id FROM population_units")).all())
        for cell_id, units in cells.items():
            bitmap = BitMap64([number[int(d)] for d in units]).serialize()
            connection.execute(
                text(
                    "INSERT INTO cell_populations (id, job_id, operator_id, file, row, units,"
                    " threshold, released, bitmap, at) VALUES (:id, :id, 1, 'result.csv', 0,"
                    " :units, :threshold, true, :bitmap, '2026-01-01')"
                ),
                {"id": cell_id, "units": len(units), "threshold": 10, "bitmap": bitmap},
            )
            connection.execute(
                text("INSERT INTO population_prefixes VALUES (:u, :n, 0, :id)"),
                {"u": 1, "n": len(units), "id": cell_id},
            )
    command.upgrade(_config(url), "0025")
    with engine.connect() as connection:
        names = set(inspect(connection).get_table_names())
        assert not names & {"population_units", "population_numbering"}
        for cell_id, units in cells.items():
            blob = connection.scalar(
                text("SELECT sketch FROM cell_populations WHERE id = :id"), {"id": cell_id}
            )
            assert blob == sketch_of(units).to_bytes()
            prefix = connection.execute(
                text("SELECT unit FROM population_prefixes WHERE cell_id = :id ORDER BY position"),
                {"id": cell_id},
            )
            assert [r[0] for r in prefix] == sorted(units.tolist())[:10]
    with Session(engine) as session:
        left_out = TablePopulations("result.csv", [0], [sketch_of(digests[1:40])])
        [finding] = check_new(session, 9, [left_out], 10).findings
        assert finding.figures["difference"] == 1
        assert finding.figures["earlier"] == "job 1 (released)"
    engine.dispose()
    with pytest.raises(RuntimeError, match="restore the database backup"):
        command.downgrade(_config(url), "0024")  # the bitmaps cannot be rebuilt from sketches
