"""Ingest writes each stored batch on a thread, one behind the batch being hashed
(issue 18): batches land in order with their unit digests and index entries, a write
that fails fails the ingest, and no thread outlives the writer."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog.identifiers import IndexSpill, load_index
from catalog.store_writer import StoreWriter
from catalog.unit_digests import UNIT_CHECK_COLUMN, UNIT_DIGEST_COLUMN, with_unit_digests
from catalog.unit_rows import UnitRepeats


def _writers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("sluice-ingest-write")]


def _batch(start: int, rows: int) -> tuple[pa.Table, np.ndarray]:
    units = [f"u{i}" for i in range(start, start + rows)]
    table = pa.table({"unit": units, "value": list(range(start, start + rows))})
    entries = np.array([i.to_bytes(16, "big") for i in range(start, start + rows)], dtype="S16")
    return table, entries


def test_batches_land_in_order_with_unit_digests_and_index_entries(tmp_path: Path) -> None:
    index = IndexSpill(tmp_path / "spill")
    units = UnitRepeats(tmp_path / "units")
    store = StoreWriter(tmp_path / "data.parquet", "unit", index, units, hashed=["unit"])
    batches = [_batch(start, 1000) for start in range(0, 20_000, 1000)]
    for table, entries in batches:
        store.add(table, entries)
    store.close()
    assert _writers() == []
    written = pq.read_table(tmp_path / "data.parquet")
    assert written.column("value").to_pylist() == list(range(20_000))
    whole = with_unit_digests(pa.concat_tables(t for t, _ in batches), "unit")
    for hidden in (UNIT_DIGEST_COLUMN, UNIT_CHECK_COLUMN):
        assert written.column(hidden).equals(whole.column(hidden))
    assert index.write(tmp_path / "index.bin") == 20_000
    assert len(load_index(tmp_path / "index.bin")) == 20_000
    assert units.one_row_per_unit() is True  # u0 … u19999, each once
    # hashes (here the unit, as a pseudonym would be), unit digests and their checks are
    # random bytes: written uncompressed; every other column with Snappy
    chunks = pq.ParquetFile(tmp_path / "data.parquet").metadata.row_group(0)
    compression = {
        chunks.column(i).path_in_schema: chunks.column(i).compression
        for i in range(chunks.num_columns)
    }
    assert compression == {
        "unit": "UNCOMPRESSED",
        "value": "SNAPPY",
        UNIT_DIGEST_COLUMN: "UNCOMPRESSED",
        UNIT_CHECK_COLUMN: "UNCOMPRESSED",
    }


def test_a_failed_write_fails_the_next_step_and_leaves_no_thread(tmp_path: Path) -> None:
    index, units = IndexSpill(tmp_path / "spill"), UnitRepeats(tmp_path / "units")
    store = StoreWriter(tmp_path / "data.parquet", "unit", index, units)
    store.add(*_batch(0, 10))
    mismatched = pa.table({"unit": ["x"], "value": ["not an integer column"]})
    store.add(mismatched, np.array([b"\x00" * 16], dtype="S16"))
    with pytest.raises(ValueError, match="schema"):
        store.close()
    assert _writers() == []
    index.discard()
    units.discard()
