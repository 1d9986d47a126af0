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
from catalog.unit_digests import UNIT_DIGEST_COLUMN, with_unit_digests


def _writers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("sluice-ingest-write")]


def _batch(start: int, rows: int) -> tuple[pa.Table, np.ndarray]:
    units = [f"u{i}" for i in range(start, start + rows)]
    table = pa.table({"unit": units, "value": list(range(start, start + rows))})
    entries = np.array([i.to_bytes(16, "big") for i in range(start, start + rows)], dtype="S16")
    return table, entries


def test_batches_land_in_order_with_unit_digests_and_index_entries(tmp_path: Path) -> None:
    index = IndexSpill(tmp_path / "spill")
    store = StoreWriter(tmp_path / "data.parquet", "unit", index)
    batches = [_batch(start, 1000) for start in range(0, 20_000, 1000)]
    for table, entries in batches:
        store.add(table, entries)
    store.close()
    assert _writers() == []
    written = pq.read_table(tmp_path / "data.parquet")
    assert written.column("value").to_pylist() == list(range(20_000))
    whole = with_unit_digests(pa.concat_tables(t for t, _ in batches), "unit")
    assert written.column(UNIT_DIGEST_COLUMN).equals(whole.column(UNIT_DIGEST_COLUMN))
    assert index.write(tmp_path / "index.bin") == 20_000
    assert len(load_index(tmp_path / "index.bin")) == 20_000


def test_a_failed_write_fails_the_next_step_and_leaves_no_thread(tmp_path: Path) -> None:
    index = IndexSpill(tmp_path / "spill")
    store = StoreWriter(tmp_path / "data.parquet", "unit", index)
    store.add(*_batch(0, 10))
    mismatched = pa.table({"unit": ["x"], "value": ["not an integer column"]})
    store.add(mismatched, np.array([b"\x00" * 16], dtype="S16"))
    with pytest.raises(ValueError, match="schema"):
        store.close()
    assert _writers() == []
    index.discard()
