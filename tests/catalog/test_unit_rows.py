"""One row per unit is counted from the stored file at ingest, never declared."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from audit_log import Actor
from catalog import get_dataset, ingest
from catalog.records import schema_document
from catalog.schema import load_schema, parse_schema
from catalog.unit_digests import UNIT_DIGEST_COLUMN
from catalog.unit_rows import one_row_per_unit
from service.domain import Domain

DEMO = Path(__file__).parents[2] / "catalog" / "demo"
AUTHORITY = Actor("test-authority", "authority")


def _parquet(path: Path, units: list[str | None]) -> Path:
    frame = pd.DataFrame({"unit": units, "value": range(len(units))})
    duckdb.from_df(frame).write_parquet(str(path))
    return path


@pytest.mark.parametrize(
    ("units", "single"),
    [
        (["a", "b", "c"], True),
        (["a", "b", "a"], False),  # a unit with two rows
        (["a", "b", None], False),  # rows with no unit: bounding treats them as one unit
        (["a", None, None], False),
    ],
)
def test_the_fact_is_counted_from_the_file(tmp_path: Path, units, single: bool) -> None:
    assert one_row_per_unit(_parquet(tmp_path / "d.parquet", units), "unit") is single


def test_ingest_records_it_per_version(domain: Domain, demo_files, tmp_path: Path) -> None:
    """Version 1 (one row per enterprise) has it; a version 2 where one enterprise has two
    rows does not, whatever its schema file says."""
    data_file, schema_file = demo_files[0]
    schema = load_schema(schema_file)
    with domain.transaction() as session:
        first = ingest(session, domain.home, data_file, schema, AUTHORITY)
        assert first.one_row_per_unit is True and first.schema().one_row_per_unit is True
    frame = pd.read_csv(data_file, dtype=str)
    twice = pd.concat([frame, frame.iloc[[0]]])
    repeated = tmp_path / "again.csv"
    twice.to_csv(repeated, index=False)
    declared = parse_schema({**schema_document(schema), "one_row_per_unit": True})
    assert declared.one_row_per_unit is False, "a schema cannot declare the fact"
    with domain.transaction() as session:
        ingest(session, domain.home, repeated, declared, AUTHORITY, new_version=True)
    with domain.transaction() as session:
        second = get_dataset(session, schema.dataset)
        assert second.version == 2 and second.one_row_per_unit is False
        assert second.to_dict()["one_row_per_unit"] is False
        assert second.schema().one_row_per_unit is False


def test_counting_more_units_than_memory_holds_spills_and_leaves_nothing(
    tmp_path: Path, monkeypatch
) -> None:
    import catalog.unit_rows

    # without a spill folder, DuckDB runs out of memory on these 1,000,000 units at 96MB
    monkeypatch.setattr(catalog.unit_rows, "MEMORY_LIMIT", "96MB")
    data = tmp_path / "d.parquet"
    duckdb.sql(
        f"COPY (SELECT md5(i::VARCHAR) AS unit FROM range(1000000) t(i))"
        f" TO '{data}' (FORMAT parquet)"
    )
    assert one_row_per_unit(data, "unit") is True
    duckdb.sql(
        f"COPY (SELECT md5((i % 999999)::VARCHAR) AS unit FROM range(1000000) t(i))"
        f" TO '{data}' (FORMAT parquet)"
    )
    assert one_row_per_unit(data, "unit") is False
    assert [p.name for p in tmp_path.iterdir()] == ["d.parquet"]


@pytest.mark.parametrize(
    ("repeat", "single"), [(None, True), ("unit-17", False), ("unit-4999", False)]
)
def test_units_counted_in_passes_add_up_to_the_file(
    tmp_path: Path, monkeypatch, repeat: str | None, single: bool
) -> None:
    import catalog.unit_rows

    monkeypatch.setattr(catalog.unit_rows, "UNITS_PER_PASS", 1000)  # five hash ranges
    units: list[str | None] = [f"unit-{i}" for i in range(5000)]
    if repeat is not None:
        units[0] = repeat
    assert one_row_per_unit(_parquet(tmp_path / "d.parquet", units), "unit") is single
    units[0] = None  # a row with no unit is never one unit's only row
    assert one_row_per_unit(_parquet(tmp_path / "e.parquet", units), "unit") is False


def test_ingest_counts_digests_and_a_shared_digest_only_answers_no(tmp_path: Path) -> None:
    """Ingest counts the unit digests it wrote (faster than the text): two units that
    happened to share a digest make the fact false, so bounding stays on."""
    frame = pd.DataFrame({"unit": ["a", "b", "c"], UNIT_DIGEST_COLUMN: [11, -7, 11]})
    path = tmp_path / "d.parquet"
    duckdb.from_df(frame).write_parquet(str(path))
    assert one_row_per_unit(path, "unit") is True
    assert one_row_per_unit(path, UNIT_DIGEST_COLUMN) is False
