"""Whether each privacy unit has at most one row in a stored file, counted at ingest.

The rewrite (policies/core_sql.py) skips per-unit bounding only on this fact, so it
is counted from the written Parquet itself, never declared: every row has a unit
(COUNT(unit) = COUNT(*), no NULL) and no unit repeats (COUNT(DISTINCT unit) =
COUNT(*)). A filtered copy of the file (a licence's rows) keeps the fact. Ingest counts
the unit digests it wrote beside the units (catalog/unit_digests.py): one unit always
has one digest, so a repeated unit shows as a repeated digest, and two units sharing a
digest can only make the answer no, the safe one (10M units: 0.8 s against 2.4 s for
the units' text).

Counting distinct units holds one hash-table entry per unit (2.8 GB of memory for 30M
units), and DuckDB's spilling alone does not bound it (at 512 MB, 100M units ran out).
So DuckDB is held to MEMORY_LIMIT, spills beside the file, and counts the units in
passes of at most UNITS_PER_PASS rows, each over the units of one hash range: the
ranges share no unit, so their distinct counts add up to the file's.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb

MEMORY_LIMIT = "1GB"  # whatever the number of units; the rest spills to disk
UNITS_PER_PASS = 50_000_000  # counted within MEMORY_LIMIT (100M took 1,051 MB in all)


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
        rows = _count(con, "SELECT COUNT(*) FROM read_parquet(?)", [str(data)])
        passes = -(-rows // UNITS_PER_PASS)
        units = sum(
            _count(
                con,
                f"SELECT COUNT(DISTINCT {column}) FROM read_parquet(?)"
                f" WHERE hash({column}) % ? = ?",
                [str(data), passes, part],
            )
            for part in range(passes)
        )
    return bool(rows) and rows == units


def _count(con: duckdb.DuckDBPyConnection, sql: str, parameters: list[object]) -> int:
    found = con.execute(sql, parameters).fetchone()
    return int(found[0]) if found else 0
