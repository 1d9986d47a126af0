"""One row per unit is counted from the unit digests ingest writes, never declared."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from audit_log import Actor
from catalog import get_dataset, ingest
from catalog.records import schema_document
from catalog.schema import load_schema, parse_schema
from catalog.unit_digests import UNIT_DIGEST_COLUMN, with_unit_digests
from catalog.unit_rows import UnitRepeats
from service.domain import Domain

DEMO = Path(__file__).parents[2] / "catalog" / "demo"
AUTHORITY = Actor("test-authority", "authority")


def _counted(folder: Path, units: list[str | None], batch: int = 2) -> bool:
    """What ingest records for `units`: their digests counted batch by batch as written."""
    repeats = UnitRepeats(folder / "spill")
    for start in range(0, len(units), batch):
        table = pa.table({"unit": pa.array(units[start : start + batch], type=pa.string())})
        repeats.add(with_unit_digests(table, "unit").column(UNIT_DIGEST_COLUMN))
    return repeats.one_row_per_unit()


@pytest.mark.parametrize(
    ("units", "single"),
    [
        (["a", "b", "c"], True),
        (["a", "b", "a"], False),  # a unit with two rows, in two batches
        (["a", "a", "b"], False),  # in one batch
        (["a", "b", None], False),  # rows with no unit: bounding treats them as one unit
        (["a", None, None], False),
        ([], False),  # no row: nothing is proven
    ],
)
def test_the_fact_is_counted_from_the_digests_written(
    tmp_path: Path, units: list[str | None], single: bool
) -> None:
    assert _counted(tmp_path, units) is single
    assert list(tmp_path.iterdir()) == [], "the spill is removed"


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


@pytest.mark.parametrize("repeat", [None, 17, 999_999])
def test_a_million_units_are_counted_in_buckets_and_one_repeat_is_found(
    tmp_path: Path, repeat: int | None
) -> None:
    """1M units in batches of 100,000: a unit whose second row lands in another batch
    (and its digest in a bucket sorted on its own) is still found."""
    repeats = UnitRepeats(tmp_path / "spill")
    for start in range(0, 1_000_000, 100_000):
        units = [f"meter-{i}" for i in range(start, start + 100_000)]
        if repeat is not None and start == 900_000:
            units[-1] = f"meter-{repeat}"  # replaces meter-999999, its only row
        table = pa.table({"unit": units})
        repeats.add(with_unit_digests(table, "unit").column(UNIT_DIGEST_COLUMN))
    assert repeats.one_row_per_unit() is (repeat in (None, 999_999))
    assert list(tmp_path.iterdir()) == []


def test_a_shared_digest_only_answers_no(tmp_path: Path) -> None:
    """Two units that happened to share a digest make the fact false, so bounding stays on."""
    repeats = UnitRepeats(tmp_path / "spill")
    repeats.add(pa.array([11, -7], type=pa.int64()))
    repeats.add(pa.array([11], type=pa.int64()))
    assert repeats.one_row_per_unit() is False
    distinct = UnitRepeats(tmp_path / "spill")
    distinct.add(pa.array([11, -7, 2**63 - 1, -(2**63)], type=pa.int64()))
    assert distinct.one_row_per_unit() is True


@pytest.mark.parametrize("written", ["as stored", "padded with spaces"])
def test_a_unit_whose_second_row_comes_batches_later_is_found(
    domain: Domain, demo_files, tmp_path: Path, monkeypatch, written: str
) -> None:
    """A bureau's file where one enterprise has a second row near its end, 20 batches
    after the first (and, padded, as text that trims to the same identifier, so the
    same pseudonym): ingest must not record one row per unit, or the rewrite would
    skip the per-unit bound and let that enterprise count twice."""
    import importlib

    monkeypatch.setattr(importlib.import_module("catalog.ingest"), "BATCH_ROWS", 100)
    data_file, schema_file = demo_files[0]
    frame = pd.read_csv(data_file, dtype=str, keep_default_na=False)
    assert len(frame) > 2000
    again = frame.iloc[[3]].copy()
    if written == "padded with spaces":
        again["enterprise_id"] = "  " + again["enterprise_id"] + "\u3000"
    repeated = tmp_path / "repeated.csv"
    pd.concat([frame.iloc[:-5], again, frame.iloc[-5:]]).to_csv(repeated, index=False)
    with domain.transaction() as session:
        dataset = ingest(session, domain.home, repeated, load_schema(schema_file), AUTHORITY)
        assert dataset.row_count == len(frame) + 1
        assert dataset.one_row_per_unit is False
