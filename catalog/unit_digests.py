"""Each row's privacy unit as the 8-byte digest differencing compares, written at ingest.

The private core lists every group's units for the gate (policies/core_sql.py
`unit_digests`). Hashing each unit's text again in every job cost more than the rest of
a large aggregate, so ingest writes the digest once, as a hidden BIGINT column beside
the unit. Its value is exactly the one the core computes from the text for a file
without the column (the first 8 bytes of the MD5 of the unit as DuckDB casts it to
VARCHAR, read big-endian), so populations from old and new files compare as equal.
The column's name starts with `__`, which no query may name (policies/analysis.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["UNIT_DIGEST_COLUMN", "with_unit_digests"]

UNIT_DIGEST_COLUMN = "__unit_digest"


def with_unit_digests(table: pa.Table, unit: str) -> pa.Table:
    """`table` with `__unit_digest` appended: each row's unit digest, NULL for a NULL unit."""
    import duckdb  # here, not above: the policy engine reads the column's name only
    import pyarrow as pa
    import pyarrow.compute as pc

    quoted = '"' + unit.replace('"', '""') + '"'
    first_half = f"substring(md5(CAST({quoted} AS VARCHAR)), 1, 16)"
    with duckdb.connect(":memory:") as con:
        con.execute("SET enable_progress_bar = false")
        con.register("batch", table.select([unit]))
        # DuckDB keeps a projection's rows in their order (preserve_insertion_order)
        found = con.sql(f"SELECT ('0x' || {first_half})::UBIGINT FROM batch").to_arrow_table()
    signed = pc.cast(found.column(0), pa.int64(), safe=False)  # the same 8 bytes, signed
    return table.append_column(pa.field(UNIT_DIGEST_COLUMN, pa.int64()), signed)
