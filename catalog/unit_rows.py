"""Whether each privacy unit has at most one row in a stored file, counted at ingest.

The rewrite (policies/core_sql.py) skips per-unit bounding only on this fact, so it
is counted from the data as it is written, never declared: every row has a unit (a
NULL unit's digest is NULL) and no unit repeats. It is counted on the unit digests
written beside the units (catalog/unit_digests.py): one unit always has one digest,
so a repeated unit shows as a repeated digest, and two units sharing a digest can
only make the answer no, the safe one. A filtered copy of the file (a licence's rows)
keeps the fact.

The digests go to a bucket spill as each batch is written (catalog.bucket_spill) and
each bucket is sorted on its own at the end, so memory stays flat whatever the
number of units (100M units: 800 MB on disk, ~3 MB a bucket), and the stored file is
never read again (10M units: 4.1 s in DuckDB after the last batch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from catalog.bucket_spill import BucketSpill

DIGEST_BYTES = 8  # a unit digest is a BIGINT


class UnitRepeats:
    """Unit digests collected batch by batch; `one_row_per_unit` gives the answer."""

    def __init__(self, folder: Path) -> None:
        self._spill = BucketSpill(folder, DIGEST_BYTES)
        self._rows, self._unitless = 0, False

    def add(self, digests: pa.ChunkedArray | pa.Array) -> None:
        """Take one batch's unit digests (NULL where a row has no unit)."""
        self._rows += len(digests)
        if digests.null_count:
            self._unitless = True  # no answer but no from here on: stop spilling
        if not self._unitless:
            self._spill.add(digests.to_numpy().astype(np.int64, copy=False))

    def one_row_per_unit(self) -> bool:
        """Whether there was a row and no two rows share a unit; removes the spill."""
        try:
            if self._unitless or not self._rows:
                return False
            for bucket in self._spill.buckets("<i8"):
                ordered = np.sort(bucket)
                if (ordered[1:] == ordered[:-1]).any():
                    return False
            return True
        finally:
            self._spill.discard()

    def discard(self) -> None:
        self._spill.discard()
