"""Whether each privacy unit has at most one row in a stored file, counted at ingest.

The rewrite (policies/core_sql.py) skips per-unit bounding only on this fact, so it
is counted from the written Parquet itself, never declared: every row has a unit
(COUNT(unit) = COUNT(*), no NULL) and no unit repeats (COUNT(DISTINCT unit) =
COUNT(*)). A filtered copy of the file (a licence's rows) keeps the fact.

Counting distinct units holds one hash-table entry per unit: 2.8 GB of memory for 30M
units, so DuckDB is held to MEMORY_LIMIT and spills the rest beside the file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb

MEMORY_LIMIT = "512MB"  # whatever the number of units; the rest spills to disk


def one_row_per_unit(data: Path, unit: str) -> bool:
    """Whether no unit of `data` (a Parquet file) appears in more than one row."""
    column = '"' + unit.replace('"', '""') + '"'
    with (
        tempfile.TemporaryDirectory(prefix=".unit-spill-", dir=data.parent) as spill,
        duckdb.connect(":memory:") as con,
    ):
        con.execute("SET enable_progress_bar = false")
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        con.execute("SET temp_directory = ?", [spill])
        rows, units = con.execute(
            f"SELECT COUNT(*), COUNT(DISTINCT {column}) FROM read_parquet(?)", [str(data)]
        ).fetchone() or (0, 0)
    return bool(rows) and rows == units
