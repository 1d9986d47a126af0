# ruff: noqa: F811  (pytest fixtures imported from test_ingest, used as arguments)
"""Ingest in batches (issue 18): the store, the index and the refusals are the same
whether a file is read whole or a few rows at a time."""

from __future__ import annotations

import importlib
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from catalog.identifiers import build_identifier_index, contains_identifier, load_index
from catalog.ingest import ingest, read_source
from catalog.schema import DatasetSchema, load_schema
from catalog.synthetic import write_demo_files
from core.errors import SchemaInvalid
from core.home import Home
from tests.catalog.test_ingest import ACTOR, assert_nothing_left

ROWS = 500
ingest_module = importlib.import_module(
    "catalog.ingest"
)  # the package exports a function of that name


@pytest.fixture
def demo(tmp_path: Path) -> tuple[Path, DatasetSchema]:
    csv, schema_path = write_demo_files(tmp_path / "raw", ROWS, 5)
    return csv, load_schema(schema_path)


def _store(where: Home, name: str) -> pd.DataFrame:
    return pq.read_table(where.store / name / "data.parquet").to_pandas()


def test_batches_store_the_same_rows_and_index_as_one_read(
    tmp_path: Path,
    demo,
    session,
    monkeypatch,
) -> None:
    csv, schema = demo
    whole_home = Home(tmp_path / "whole")
    whole_home.create()
    ingest(session, whole_home, csv, schema, ACTOR)
    whole = _store(whole_home, schema.dataset)
    whole_index = load_index(whole_home.store / schema.dataset / "identifiers.bin")
    session.rollback()

    monkeypatch.setattr(ingest_module, "BATCH_ROWS", 37)  # 14 batches, the last short
    small_home = Home(tmp_path / "small")
    small_home.create()
    small_home.pseudonym_key_path.write_bytes(whole_home.pseudonym_key_path.read_bytes())
    steps: list[str] = []
    dataset = ingest(session, small_home, csv, schema, ACTOR, steps.append)
    batched = _store(small_home, schema.dataset)
    assert dataset.row_count == ROWS == len(batched)
    assert sum("desensitizing and writing rows" in s for s in steps) == -(-ROWS // 37)
    assert pq.ParquetFile(small_home.store / schema.dataset / "data.parquet").num_row_groups > 1
    noisy = {c.name for c in schema.stored_columns if c.desensitize.startswith("noise")}
    keep = [c for c in whole.columns if c not in noisy]
    pd.testing.assert_frame_equal(whole[keep], batched[keep])
    assert list(batched.dtypes) == list(whole.dtypes)
    index = load_index(small_home.store / schema.dataset / "identifiers.bin")
    assert index == whole_index
    everything = read_source(csv, schema)  # the whole file at once, as ingest once read it
    assert index == build_identifier_index(everything, schema, small_home.pseudonym_key())
    raw = pd.read_csv(csv, dtype=str)
    last = raw["enterprise_id"].iloc[-1]  # from the last batch
    assert contains_identifier(last, index, small_home.pseudonym_key())


def test_a_bad_value_in_a_later_batch_is_named_and_all_are_counted(
    tmp_path: Path,
    demo,
    session,
    home,
    monkeypatch,
) -> None:
    csv, schema = demo
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    frame.loc[[300, 301, 480], "employees"] = ["many", "lots", "x"]
    broken = tmp_path / "broken.csv"
    frame.to_csv(broken, index=False)
    monkeypatch.setattr(ingest_module, "BATCH_ROWS", 100)
    with pytest.raises(SchemaInvalid) as refused:
        ingest(session, home, broken, schema, ACTOR)
    message = str(refused.value)
    assert "column 'employees', row 301 (line 302 of the file): 'many'" in message
    assert "and 2 more" in message
    assert_nothing_left(session, home)
