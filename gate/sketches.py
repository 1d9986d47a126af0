"""Population sketches (人群草图): a cell's units in a fixed size, and what two sketches
prove about the difference of their populations.

The differencing check (gate/differencing.py) asks, for two released cells A and B,
whether 0 < |A Δ B| < t. Today it reads every unit of every cell; a sketch
(core/population_sketch.py has its shape) is a few kilobytes whatever the cell's size.
This module is the gate's half of that design: build a sketch from digests (for
tests and for converting a store) or read one from the core's columns or from the
bytes a store keeps, subtract two, decode the difference, and decide.
It is not yet wired into jobs; docs/benchmarks.md says what is measured and what is
left.

The decision never rests on luck in the direction that leaks. Two populations are
"not close" only on proof that their difference has t units or more:

  * their sizes differ by t or more (|A Δ B| ≥ | |A| − |B| |);
  * some partition of the difference sketch has t or more cells that are not empty:
    each unit of the difference sits in exactly one cell of each partition, so a
    partition can show no more non-empty cells than the difference has units;
  * or the difference decoded completely into t units or more, each one checked.

A difference that does not decode and is not proven large is reported close, and the
gate withholds: an operator who picks units whose digests share their cells (a
"stopping set") gets a refusal, never a pass. A difference that decodes into fewer
than t units is close, and the decoded digests name the units it rests on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from catalog.identifiers import sorted_distinct
from core.population_sketch import CELLS, LOWEST, PARTITIONS, cell, check

__all__ = [
    "Compared",
    "Sketch",
    "compare",
    "is_close",
    "sketch_from_bytes",
    "sketch_from_cells",
    "sketch_of",
]

SIZE = PARTITIONS * CELLS
FORMAT = 1  # the first byte of a stored sketch
# format, units, lowest digests kept, cells listed; then the digests, then the cells
_HEADER = np.dtype([("format", "<u1"), ("units", "<i8"), ("lowest", "<u2"), ("cells", "<u2")])


@dataclass(frozen=True)
class Sketch:
    """A population as the gate keeps it: its size, its LOWEST lowest digests (sorted),
    and per cell the count, the XOR of digests and the XOR of check values."""

    units: int
    lowest: np.ndarray
    counts: np.ndarray
    xors: np.ndarray
    checks: np.ndarray

    def to_bytes(self) -> bytes:
        """The sketch as the store keeps it: only the cells with units in them, so a
        small cell stays small (a one-unit cell lists 3 cells of 192)."""
        at = np.flatnonzero(self.counts)
        cells = np.stack([at, self.counts[at], self.xors[at], self.checks[at]], axis=1)
        header = np.array([(FORMAT, self.units, len(self.lowest), len(at))], dtype=_HEADER)
        body = [self.lowest.astype("<i8"), cells.astype("<i8")]
        return header.tobytes() + b"".join(part.tobytes() for part in body)


@dataclass(frozen=True)
class Compared:
    """What two sketches say about |A Δ B|: `difference` when it decoded completely
    (`units` are the digests it rests on), else None; `at_least` is a proven lower bound."""

    difference: int | None
    at_least: int
    units: tuple[int, ...] = ()


def sketch_of(digests: np.ndarray) -> Sketch:
    """The sketch of a population given as int64 digests (any order, repeats ignored)."""
    digests = sorted_distinct(np.asarray(digests, dtype=np.int64))
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
    return Sketch(len(digests), digests[:LOWEST].copy(), counts, xors, checks)


def sketch_from_cells(
    units: int, lowest: Sequence[int] | np.ndarray, cells: Sequence[Sequence[int]]
) -> Sketch | None:
    """A sketch from the core's columns (policies.core_sql: `__n`, `__lowest` and
    `__sketch`, a [cell, count, XOR, check] list per cell the group has units in), or
    None if they are inconsistent (then the cell cannot be compared, and the gate
    withholds): an entry not of four integers, a cell out of range or listed twice,
    partitions whose counts do not each add up to `units`, or a prefix that is not
    the sorted distinct lowest digests."""
    try:  # from Parquet through pandas each entry is an array of its own
        entries = [np.asarray(entry, dtype=np.int64) for entry in cells]
        table = np.array(entries, dtype=np.int64).reshape(len(entries), 4)
    except (TypeError, ValueError, OverflowError):
        return None
    at = table[:, 0]
    if at.size and (at.min() < 0 or at.max() >= SIZE or len(np.unique(at)) != len(at)):
        return None
    dense = [np.zeros(SIZE, dtype=np.int64) for _ in range(3)]
    for column, target in enumerate(dense, start=1):
        target[at] = table[:, column]
    per_partition = dense[0].reshape(PARTITIONS, CELLS).sum(axis=1)
    prefix = np.asarray(lowest, dtype=np.int64)
    expected = min(units, LOWEST)
    if (per_partition != units).any() or (dense[0] < 0).any() or len(prefix) != expected:
        return None
    if len(prefix) > 1 and (np.diff(prefix) <= 0).any():
        return None
    return Sketch(units, prefix, *dense)


def sketch_from_bytes(blob: bytes) -> Sketch | None:
    """A stored sketch, or None if the bytes are not one (then the cell cannot be
    compared, and the gate withholds, as for a core's output that does not add up)."""
    if len(blob) < _HEADER.itemsize:
        return None
    header = np.frombuffer(blob[: _HEADER.itemsize], dtype=_HEADER)[0]
    lowest, listed = int(header["lowest"]), int(header["cells"])
    if int(header["format"]) != FORMAT or len(blob) != _HEADER.itemsize + 8 * (lowest + 4 * listed):
        return None
    body = np.frombuffer(blob[_HEADER.itemsize :], dtype="<i8").astype(np.int64)
    cells = body[lowest:].reshape(listed, 4)
    return sketch_from_cells(int(header["units"]), body[:lowest], list(cells))


def _non_empty(counts: np.ndarray, xors: np.ndarray, checks: np.ndarray) -> int:
    """The most cells of any one partition that are not empty."""
    busy = (counts != 0) | (xors != 0) | (checks != 0)
    return int(busy.reshape(PARTITIONS, CELLS).sum(axis=1).max())


def _pure(index: int, counts: np.ndarray, xors: np.ndarray, checks: np.ndarray) -> bool:
    """Whether a cell holds exactly one unit of the difference, by its check value and
    by the cell that unit's digest falls in."""
    if counts[index] not in (1, -1):
        return False
    digest = int(xors[index])
    partition = index // CELLS
    return cell(digest, partition) == index and check(digest) == int(checks[index])


def _decode(a: Sketch, b: Sketch) -> tuple[list[int] | None, int]:
    """Peel the difference sketch: the units of A Δ B if it empties completely (else
    None), and the non-empty bound taken before peeling."""
    counts, xors, checks = a.counts - b.counts, a.xors ^ b.xors, a.checks ^ b.checks
    bound = _non_empty(counts, xors, checks)
    found: set[int] = set()
    waiting = [i for i in range(SIZE) if _pure(i, counts, xors, checks)]
    while waiting:
        index = waiting.pop()
        if not _pure(index, counts, xors, checks):
            continue  # emptied or changed since it was queued
        digest, sign = int(xors[index]), int(counts[index])
        if digest in found or len(found) == SIZE:
            return None, bound  # a unit twice, or more than the cells can hold: not honest
        found.add(digest)
        value = check(digest)
        for partition in range(PARTITIONS):
            other = cell(digest, partition)
            counts[other] -= sign
            xors[other] ^= digest
            checks[other] ^= value
            if _pure(other, counts, xors, checks):
                waiting.append(other)
    if counts.any() or xors.any() or checks.any():
        return None, bound
    return sorted(found), bound


def compare(a: Sketch, b: Sketch) -> Compared:
    """What the two sketches prove about the difference of their populations."""
    gap = abs(a.units - b.units)
    units, bound = _decode(a, b)
    if units is None or len(units) < gap:  # fewer units than the sizes differ by: not so
        return Compared(None, max(gap, bound))
    return Compared(len(units), len(units), tuple(units))


def is_close(a: Sketch, b: Sketch, threshold: int) -> bool:
    """Whether the gate must treat 0 < |A Δ B| < threshold as possible: True unless the
    difference is proven to be 0 or at least `threshold` units."""
    if abs(a.units - b.units) >= threshold:
        return False
    found = compare(a, b)
    if found.difference is not None:
        return 0 < found.difference < threshold
    return found.at_least < threshold
