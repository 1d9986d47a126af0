"""Each row's privacy unit as the 8-byte digest differencing compares, written at ingest.

The private core lists every group's units for the gate (policies/core_sql.py
`unit_digests`). Hashing each unit's text again in every job cost more than the rest of
a large aggregate, so ingest writes the digest once, as a hidden BIGINT column beside
the unit. Its value is exactly the one the core computes from the text for a file
without the column (the first 8 bytes of the MD5 of the unit as DuckDB casts it to
VARCHAR, read big-endian, as a signed BIGINT), so populations from old and new files
compare as equal.
Beside it goes the digest's check value (`__unit_check`, core.population_sketch.check),
which the core XORs into every population sketch's cells: computing it in SQL was a
sixth of a one-row-per-unit aggregate's core, and it never changes for a unit.
Both columns' names start with `__`, which no query may name (policies/analysis.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["HIDDEN_COLUMNS", "UNIT_CHECK_COLUMN", "UNIT_DIGEST_COLUMN", "with_unit_digests"]

UNIT_DIGEST_COLUMN = "__unit_digest"
UNIT_CHECK_COLUMN = "__unit_check"
# what ingest appends to the declared columns of every stored file, in this order
HIDDEN_COLUMNS = (UNIT_DIGEST_COLUMN, UNIT_CHECK_COLUMN)


def with_unit_digests(table: pa.Table, unit: str) -> pa.Table:
    """`table` with `__unit_digest` and `__unit_check` appended: each row's unit digest
    and its check value, both NULL for a NULL unit.

    DuckDB's `md5_number` reads the MD5 as a little-endian number, so its low 64 bits
    are the digest's first 8 bytes in reverse order: swapping them back gives the value
    the core reads from the hex text, at half the cost of making that text."""
    import duckdb  # here, not above: the policy engine reads the column's name only
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from core.population_sketch import check

    quoted = '"' + unit.replace('"', '""') + '"'
    low_half = f"(md5_number(CAST({quoted} AS VARCHAR)) & {2**64 - 1})::UBIGINT"
    with duckdb.connect(":memory:") as con:
        con.execute("SET enable_progress_bar = false")
        con.register("batch", table.select([unit]))
        # DuckDB keeps a projection's rows in their order (preserve_insertion_order)
        found = con.sql(f"SELECT {low_half} FROM batch").to_arrow_table().column(0)
    swapped = pc.fill_null(found, 0).to_numpy().byteswap().view(np.int64)
    nulls = found.is_null().to_numpy(zero_copy_only=False) if found.null_count else None
    digests = pa.array(swapped, type=pa.int64(), mask=nulls)
    checks = pa.array(check(swapped), type=pa.int64(), mask=nulls)
    table = table.append_column(pa.field(UNIT_DIGEST_COLUMN, pa.int64()), digests)
    return table.append_column(pa.field(UNIT_CHECK_COLUMN, pa.int64()), checks)
