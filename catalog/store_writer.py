"""Writing an ingest's stored batches on a thread, one batch behind the one being
prepared: DuckDB's unit digests, Parquet's encoding and the spills' sorts run mostly
outside the GIL, so on two cores they overlap typing and hashing the next batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from catalog.identifiers import IndexSpill
from catalog.unit_digests import HIDDEN_COLUMNS, UNIT_DIGEST_COLUMN, with_unit_digests
from catalog.unit_rows import UnitRepeats


class StoreWriter:
    """Appends stored batches to one Parquet file, each with its unit digests and their
    check values (catalog.unit_digests); the digests also go to `units`, and the
    batches' identifier-index entries to `index`: in order, on one thread, with at most
    one batch waiting."""

    def __init__(
        self,
        path: Path,
        unit: str,
        index: IndexSpill,
        units: UnitRepeats,
        hashed: Sequence[str] = (),
    ) -> None:
        """`hashed` names the columns that hold keyed hashes (pseudonyms): like the unit
        digests and checks, they are written uncompressed (see `_compression`)."""
        self._path, self._unit, self._index, self._units = path, unit, index, units
        self._hashed = {*hashed, *HIDDEN_COLUMNS}
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
            compression = _compression(stored.schema.names, self._hashed)
            self._file = pq.ParquetWriter(self._path, stored.schema, compression=compression)
        self._file.write_table(stored.replace_schema_metadata(self._file.schema.metadata))
        self._index.add(entries)
        self._units.add(stored.column(UNIT_DIGEST_COLUMN))

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()


def _compression(names: Sequence[str], hashed: set[str]) -> dict[str, str]:
    """Snappy for every column but hashes: their bytes are random, so compressing them
    saved 10 % of their size for half of the whole file's writing time (and reading
    them back is faster uncompressed). Repeated hashes are still dictionary-encoded."""
    return {name: "none" if name in hashed else "snappy" for name in names}
