"""Population sketches (人群草图): a cell's units in a fixed size, and what two sketches
prove about the difference of their populations.

The differencing check (gate/differencing.py) asks, for two released cells A and B,
whether 0 < |A Δ B| < t. It once read every unit of every cell; a sketch
(core/population_sketch.py has its shape) is a few kilobytes whatever the cell's size.
This module is the gate's half: build a sketch from digests (for tests and for
converting a store) or read one from the core's columns or from the bytes the store
keeps (gate/populations.py), subtract two, decode the difference, and decide.

The decision never rests on luck in the direction that leaks. Two populations are
"not close" only on proof that their difference has t units or more:

  * their sizes differ by t or more (|A Δ B| ≥ | |A| − |B| |);
  * some partition of the difference sketch has t or more cells that are not empty:
    each unit of the difference sits in exactly one cell of each partition, so a
    partition can show no more non-empty cells than the difference has units;
  * or the difference decoded completely into t units or more, each one checked.

Two populations of at most LOWEST units are both their digests whole, and are
compared exactly instead.

A difference that does not decode and is not proven large is reported close, and the
gate withholds: an operator who picks units whose digests share their cells (a
"stopping set") gets a refusal, never a pass. A difference that decodes into fewer
than t units is close, and the decoded digests name the units it rests on.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from catalog.identifiers import sorted_distinct
from core.population_sketch import CELLS, LOWEST, PARTITIONS, cell, check

__all__ = [
    "FORMAT",
    "HEADER",
    "SIZE",
    "Cells",
    "Compared",
    "Sketch",
    "closeness",
    "compare",
    "is_close",
    "non_empty",
    "sketch_from_bytes",
    "sketch_from_cells",
    "sketch_of",
]

SIZE = PARTITIONS * CELLS
FORMAT = 1  # the first byte of a stored sketch
# format, units, lowest digests kept, cells listed; then the digests, then the cells
HEADER = struct.Struct("<BqHH")


Cells = tuple[np.ndarray, np.ndarray, np.ndarray]  # counts, XORs of digests, XORs of checks


@dataclass(frozen=True, eq=False)
class Sketch:
    """A population as the gate keeps it: its size, its LOWEST lowest digests (sorted),
    and per cell the count, the XOR of digests and the XOR of check values.

    A population of at most LOWEST units is its lowest digests whole (`whole`): its
    cells are built only if a comparison needs them, and two whole populations are
    compared exactly (most cells of a store are that small)."""

    units: int
    lowest: np.ndarray
    given: Cells | None = None  # None for a whole population: built from `lowest`

    @property
    def whole(self) -> bool:
        return len(self.lowest) == self.units

    @cached_property
    def members(self) -> frozenset[int]:
        """A whole population's digests as a set: compared with many stored cells."""
        return frozenset(self.lowest.tolist())

    @cached_property
    def cells(self) -> Cells:
        return self.given if self.given is not None else _cells_of(self.lowest)

    @property
    def counts(self) -> np.ndarray:
        return self.cells[0]

    @property
    def xors(self) -> np.ndarray:
        return self.cells[1]

    @property
    def checks(self) -> np.ndarray:
        return self.cells[2]

    def to_bytes(self) -> bytes:
        """The sketch as the store keeps it: a whole population as its digests alone,
        a larger one with only the cells that have units in them."""
        if self.whole:
            table = np.zeros((0, 4), dtype=np.int64)
        else:
            at = np.flatnonzero(self.counts)
            table = np.stack([at, self.counts[at], self.xors[at], self.checks[at]], axis=1)
        header = HEADER.pack(FORMAT, self.units, len(self.lowest), len(table))
        body = [self.lowest.astype("<i8"), table.astype("<i8")]
        return header + b"".join(part.tobytes() for part in body)


@dataclass(frozen=True)
class Compared:
    """What two sketches say about |A Δ B|: `difference` when it decoded completely
    (`units` are the digests it rests on), else None; `at_least` is a proven lower bound."""

    difference: int | None
    at_least: int
    units: tuple[int, ...] = ()


def _cells_of(digests: np.ndarray) -> Cells:
    """The cells of sorted distinct digests."""
    counts = np.zeros(SIZE, dtype=np.int64)
    xors = np.zeros(SIZE, dtype=np.int64)
    checks = np.zeros(SIZE, dtype=np.int64)
    values = check(digests)
    for partition in range(PARTITIONS):
        cells = cell(digests, partition)
        order = np.argsort(cells, kind="stable")
        placed = cells[order]
        starts = np.flatnonzero(np.diff(placed, prepend=-1))
        at = placed[starts]
        counts[at] = np.diff(np.append(starts, len(order)))
        xors[at] = np.bitwise_xor.reduceat(digests[order], starts)
        checks[at] = np.bitwise_xor.reduceat(values[order], starts)
    return counts, xors, checks


def sketch_of(digests: np.ndarray) -> Sketch:
    """The sketch of a population given as int64 digests (any order, repeats ignored)."""
    digests = sorted_distinct(np.asarray(digests, dtype=np.int64))
    if len(digests) <= LOWEST:
        return Sketch(len(digests), digests.copy())
    return Sketch(len(digests), digests[:LOWEST].copy(), _cells_of(digests))


def _ascending(digests: np.ndarray) -> bool:
    """Strictly ascending (compared, not subtracted: a difference of two digests can
    overflow int64)."""
    return bool((digests[1:] > digests[:-1]).all())


def _from_table(units: int | None, prefix: np.ndarray, table: np.ndarray) -> Sketch | None:
    """A sketch from its lowest digests and a (cell, count, XOR, check) row per listed
    cell, or None if they are inconsistent. With no cells listed, the prefix must be
    the whole population (at most LOWEST units)."""
    if not _ascending(prefix):
        return None
    if not len(table):  # the core sends cells for more than LOWEST units only
        whole = len(prefix) <= LOWEST and units in (None, len(prefix))
        return Sketch(len(prefix), prefix) if whole else None
    at = table[:, 0]
    if at.min() < 0 or at.max() >= SIZE or not _ascending(np.sort(at)):
        return None  # out of range, or a cell listed twice
    counts, xors, checks = dense = np.zeros((3, SIZE), dtype=np.int64)
    dense[:, at] = table[:, 1:].T
    per_partition = counts.reshape(PARTITIONS, CELLS).sum(axis=1)
    units = int(per_partition[0]) if units is None else units
    if (per_partition != units).any() or (counts < 0).any():
        return None
    if len(prefix) != min(units, LOWEST) or units <= LOWEST:
        return None  # a population this small is sent and kept whole, without cells
    return Sketch(units, prefix, (counts, xors, checks))


def sketch_from_cells(
    units: int | None, lowest: Sequence[int] | np.ndarray, cells: Sequence[Sequence[int]]
) -> Sketch | None:
    """A sketch from the core's columns (policies.core_sql: `__lowest` and `__sketch`, a
    [cell, count, XOR, check] list per cell the group has units in, none for a group
    of at most LOWEST units) and the size, or, when `units` is None, the size its
    first partition counts; None if they are inconsistent (then the cell cannot be
    compared, and the gate withholds): an entry not of four integers, a cell out of
    range or listed twice, partitions whose counts do not each add up to `units`, or
    a prefix that is not the sorted distinct lowest digests."""
    try:  # from Parquet through pandas each entry is an array of its own
        entries = [np.asarray(entry) for entry in cells]
        if any(entry.dtype.kind not in "iu" for entry in entries):
            return None  # floats would lose a digest's low bits, and text is no figure
        table = np.array(entries, dtype=np.int64).reshape(len(entries), 4)
        prefix = np.asarray(lowest)
        if len(prefix) and prefix.dtype.kind not in "iu":
            return None
        return _from_table(units, prefix.astype(np.int64), table)
    except (TypeError, ValueError, OverflowError):
        return None


def sketch_from_bytes(blob: bytes) -> Sketch | None:
    """A stored sketch, or None if the bytes are not one (then the cell cannot be
    compared, and the gate withholds, as for a core's output that does not add up)."""
    if len(blob) < HEADER.size:
        return None
    form, units, lowest, listed = HEADER.unpack_from(blob)
    if form != FORMAT or len(blob) != HEADER.size + 8 * (lowest + 4 * listed):
        return None
    body = np.frombuffer(blob, dtype="<i8", offset=HEADER.size).astype(np.int64, copy=False)
    return _from_table(units, body[:lowest], body[lowest:].reshape(listed, 4))


def non_empty(counts: np.ndarray, xors: np.ndarray, checks: np.ndarray) -> np.ndarray:
    """The most cells of any one partition of a difference sketch that are not empty
    (one figure per sketch along the last axis, of SIZE cells): a lower bound on the
    difference's units, as each of them sits in one cell of each partition."""
    busy = (counts != 0) | (xors != 0) | (checks != 0)
    return busy.reshape(*counts.shape[:-1], PARTITIONS, CELLS).sum(axis=-1).max(axis=-1)


def _difference(a: Sketch, b: Sketch) -> Cells:
    """The sketch of A Δ B, cell by cell: counts, XORs of digests, XORs of checks."""
    return a.counts - b.counts, a.xors ^ b.xors, a.checks ^ b.checks


def _peel(
    counts: list[int], xors: list[int], checks: list[int], single: list[int]
) -> list[int] | None:
    """The units of a difference sketch if it empties completely, else None; `single`
    are the cells whose count is ±1, where peeling starts. On Python ints (the lists
    are changed): NumPy's scalars cost more than the peeling itself."""

    def pure(index: int) -> bool:
        """Whether a cell holds exactly one unit, by its check value and by the cell
        that unit's digest falls in."""
        if counts[index] not in (1, -1):
            return False
        digest = xors[index]
        return cell(digest, index // CELLS) == index and check(digest) == checks[index]

    found: set[int] = set()
    waiting = [i for i in single if pure(i)]
    while waiting:
        index = waiting.pop()
        if not pure(index):
            continue  # emptied or changed since it was queued
        digest, sign = xors[index], counts[index]
        if digest in found or len(found) == SIZE:
            return None  # a unit twice, or more than the cells can hold: not honest
        found.add(digest)
        value = check(digest)
        for partition in range(PARTITIONS):
            other = cell(digest, partition)
            counts[other] -= sign
            xors[other] ^= digest
            checks[other] ^= value
            if pure(other):
                waiting.append(other)
    if any(counts) or any(xors) or any(checks):
        return None
    return sorted(found)


def _compared(difference: Cells, bound: int, gap: int) -> Compared:
    """What a difference sketch proves, given its non-empty bound and the size gap."""
    counts, xors, checks = difference
    if bound == 0:  # every cell empty: the same population
        return Compared(0, 0)
    single = np.flatnonzero(np.abs(counts) == 1).tolist()
    units = _peel(counts.tolist(), xors.tolist(), checks.tolist(), single)
    if units is None or len(units) < gap:  # fewer units than the sizes differ by: not so
        return Compared(None, max(gap, bound))
    return Compared(len(units), len(units), tuple(units))


def compare(a: Sketch, b: Sketch) -> Compared:
    """What the two sketches prove about the difference of their populations."""
    difference = _difference(a, b)
    return _compared(difference, int(non_empty(*difference)), abs(a.units - b.units))


def closeness(a: Sketch, b: Sketch, threshold: int) -> Compared | None:
    """What the sketches say of a pair the gate must treat as close (0 < |A Δ B| <
    threshold possible), or None when the difference is proven to be 0 or at least
    `threshold` units. The cheap proofs come first: sizes, then non-empty cells, which
    settle most pairs of unrelated cells without peeling."""
    gap = abs(a.units - b.units)
    if gap >= threshold:
        return None
    if a.whole and b.whole:  # both listed in full: the difference itself
        units = tuple(sorted(a.members ^ b.members))
        return Compared(len(units), len(units), units) if 0 < len(units) < threshold else None
    difference = _difference(a, b)
    bound = int(non_empty(*difference))
    if bound >= threshold:
        return None
    found = _compared(difference, bound, gap)
    if found.difference is not None:
        return found if 0 < found.difference < threshold else None
    return found if found.at_least < threshold else None


def is_close(a: Sketch, b: Sketch, threshold: int) -> bool:
    """Whether the gate must treat 0 < |A Δ B| < threshold as possible."""
    return closeness(a, b, threshold) is not None
