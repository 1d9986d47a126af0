"""The shape of a population sketch (人群草图): where each unit digest falls and the check
value it carries, agreed bit for bit by the private core (SQL, policies/core_sql.py)
and the gate (NumPy, gate/sketches.py).

A sketch is an invertible Bloom lookup table: PARTITIONS partitions of CELLS cells,
each cell holding the count, the XOR of the digests and the XOR of their check
values. Two sketches subtract cell by cell into a sketch of the symmetric
difference, and a difference of a few units decodes back to the units themselves.
Its size is fixed whatever the cell's population, which is why it is proposed in
place of the full digest lists (docs/benchmarks.md).

A digest's cell in partition p is its bits [CELL_BITS·p, CELL_BITS·(p+1)): the digests
are MD5 halves, so those bits are independent. The check value is a nonlinear 63-bit
function of the digest (a four-round Feistel network over its 32-bit halves whose
round function is the middle 32 bits of a word times a constant, so every output bit
depends on every input bit through carries): a cell whose XOR is not one digest
passes the check only by chance. Every product stays below 2^63, so SQL engines
compute it in BIGINT with no overflow, and the same expression runs on Python ints
and NumPy int64 arrays.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CELLS",
    "CELL_BITS",
    "LOWEST",
    "PARTITIONS",
    "ROUND_KEYS",
    "WORD",
    "cell",
    "check",
]

PARTITIONS = 3
CELL_BITS = 6
CELLS = 1 << CELL_BITS  # per partition
# The lowest digests a sketch keeps: the prefix the store indexes a cell by. A cell can
# be compared for differences below LOWEST units (a threshold above it cannot use one).
LOWEST = 64
WORD = 0xFFFF_FFFF
# odd multipliers below 2^31: a 32-bit word times one of them stays below 2^63
ROUND_KEYS = (0x5BD1_E995, 0x1B87_3593, 0x2F7A_3C1D, 0x6C8E_9CF5)

# Both functions take a Python int or a NumPy int64 array (the operators are the same),
# and return the same kind: hence `Any`.


def cell(digest: Any, partition: int) -> Any:
    """The digest's cell in `partition`, numbered across partitions (p·CELLS + bits)."""
    shifted = digest >> (CELL_BITS * partition)
    return (shifted & (CELLS - 1)) + CELLS * partition


def check(digest: Any) -> Any:
    """The digest's check value, in [0, 2^63)."""
    left = digest & WORD
    right = (digest >> 32) & WORD
    for index, key in enumerate(ROUND_KEYS):
        if index % 2 == 0:
            left = left ^ (((right * key) >> 16) & WORD)
        else:
            right = right ^ (((left * key) >> 16) & WORD)
    return ((right & 0x7FFF_FFFF) << 32) | left
