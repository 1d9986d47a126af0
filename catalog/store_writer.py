"""Writing an ingest's stored batches on a thread, one batch behind the one being
prepared: DuckDB's unit digests, Parquet's encoding and the index spill's sort run
mostly outside the GIL, so on two cores they overlap typing and hashing the next batch.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from catalog.identifiers import IndexSpill
from catalog.unit_digests import with_unit_digests


class StoreWriter:
    """Appends stored batches to one Parquet file, each with its unit digests
    (catalog.unit_digests), and their identifier-index entries to an `IndexSpill`: in
    order, on one thread, with at most one batch waiting."""

    def __init__(self, path: Path, unit: str, index: IndexSpill) -> None:
        self._path, self._unit, self._index = path, unit, index
        self._file: pq.ParquetWriter | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sluice-ingest-write")
        self._pending: Future[None] | None = None

    def add(self, table: pa.Table, entries: np.ndarray) -> None:
        """Queue one batch once the previous one is written (raising its error, if any)."""
        self._wait()
        self._pending = self._thread.submit(self._write, table, entries)

    def close(self) -> None:
        """Wait for the last batch, raising its error, and close the file."""
        try:
            self._wait()
        finally:
            self._thread.shutdown(wait=True)
            if self._file is not None:
                self._file.close()

    def _write(self, table: pa.Table, entries: np.ndarray) -> None:
        stored = with_unit_digests(table, self._unit)
        if self._file is None:
            self._file = pq.ParquetWriter(self._path, stored.schema)
        self._file.write_table(stored.replace_schema_metadata(self._file.schema.metadata))
        self._index.add(entries)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()
