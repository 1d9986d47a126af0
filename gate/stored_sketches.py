"""The store's candidate sketches read and compared by the batch (候选草图批量比较).

A differencing check can meet tens of thousands of stored cells (bench/bench_populations.py
meets 88,000). Reading each one's bytes into a `Sketch` and comparing the pairs one by
one cost more than the database did. Here a batch of candidates is read in one pass:
the bytes of all of them are split into columns and checked for every consistency
`gate.sketches.sketch_from_bytes` asks (a candidate that fails is not `readable`, and
the caller withholds against it as before). Then the batch's pairs are settled
together where that is exact:

  * two whole populations (at most LOWEST units each, listed in full) are compared
    exactly, as `closeness` compares them: their difference is counted from the
    digests the two share;
  * two larger ones are screened as `closeness` first screens them: a difference
    sketch with every cell empty is the same population, and a partition of it with
    `threshold` or more non-empty cells (`gate.sketches.non_empty`) proves them far
    apart.

The pairs left (a large population against a whole one, unreadable cells, and those
the screen cannot settle) are compared one by one with `closeness`, so nothing here
decides what `closeness` would decide otherwise (tests/gate/test_stored_sketches.py
holds the batch to the one-by-one reading).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.population_sketch import CELLS, LOWEST, PARTITIONS
from gate.sketches import FORMAT, HEADER, SIZE, Cells, Sketch, non_empty

__all__ = ["ProbeColumns", "StoredSketches"]

_NO_HEADER = (0, 0, 0, 0)  # a blob too short to hold one: its format (0) is never FORMAT
_SCREENED_AT_ONCE = 4096  # pairs per screening step: a few MB of cells at a time


def _spans(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For spans [start, start + length), each position covered and the span it is in."""
    owners = np.repeat(np.arange(len(lengths)), lengths)
    offsets = np.arange(len(owners)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + offsets, owners


def _strictly_ascending_within(values: np.ndarray, owners: np.ndarray, count: int) -> np.ndarray:
    """Per owner, whether its values (consecutive, in `owners` order) strictly ascend.
    Compared, never subtracted: two digests can differ by more than int64 holds."""
    fine = np.ones(count, dtype=bool)
    same = owners[1:] == owners[:-1]
    fine[owners[1:][same & (values[1:] <= values[:-1])]] = False
    return fine


@dataclass(frozen=True, eq=False)
class ProbeColumns:
    """The new cells of a check as columns: sizes, thresholds, whether each is whole,
    the larger ones' dense cells, and the whole ones' digests as sorted keys
    (probe × distinct digests + the digest's rank) for exact comparison."""

    units: np.ndarray
    thresholds: np.ndarray
    whole: np.ndarray
    cells: Cells  # zero for whole populations: they are compared by their digests
    values: np.ndarray  # the distinct digests of the whole populations, sorted
    keys: np.ndarray

    @classmethod
    def of(cls, sketches: Sequence[Sketch], thresholds: Sequence[int]) -> ProbeColumns:
        whole = np.array([sketch.whole for sketch in sketches], dtype=bool)
        counts, xors, checks = (np.zeros((len(sketches), SIZE), np.int64) for _ in range(3))
        for i in np.flatnonzero(~whole).tolist():
            counts[i], xors[i], checks[i] = sketches[i].cells
        listed = [sketches[i].lowest for i in np.flatnonzero(whole).tolist()]
        digests = np.concatenate([np.zeros(0, np.int64), *listed])
        owners = np.repeat(np.flatnonzero(whole), [len(lowest) for lowest in listed])
        values = np.unique(digests)
        keys = np.sort(owners * len(values) + np.searchsorted(values, digests))
        return cls(
            np.array([sketch.units for sketch in sketches], dtype=np.int64),
            np.asarray(thresholds, dtype=np.int64),
            whole,
            (counts, xors, checks),
            values,
            keys,
        )


@dataclass(frozen=True, eq=False)
class StoredSketches:
    """A batch of stored cells as columns: id, size, threshold, whether they read as a
    sketch, every row's lowest digests (one after the other, from `starts`), and the
    dense cells of the rows larger than LOWEST units (zero for the others)."""

    ids: np.ndarray
    units: np.ndarray
    thresholds: np.ndarray
    readable: np.ndarray
    digests: np.ndarray
    starts: np.ndarray
    cells: Cells
    _sketches: dict[int, Sketch] = field(default_factory=dict, repr=False)

    @classmethod
    def read(cls, rows: Sequence[tuple[int, int, int, bytes]]) -> StoredSketches:
        """Rows of (id, size, threshold, sketch bytes), as `gate.populations` fetches them.
        The checks are `sketch_from_bytes`'s, and the header's size must be the row's."""
        count = len(rows)
        ids = np.array([row[0] for row in rows], dtype=np.int64)
        units = np.array([row[1] for row in rows], dtype=np.int64)
        thresholds = np.array([row[2] for row in rows], dtype=np.int64)
        blobs = [bytes(row[3]) for row in rows]
        lengths = np.array([len(blob) for blob in blobs], dtype=np.int64)
        headers = [HEADER.unpack_from(b) if len(b) >= HEADER.size else _NO_HEADER for b in blobs]
        form, sizes, lowest, listed = np.array(headers, dtype=np.int64).reshape(count, 4).T
        shaped = (form == FORMAT) & (lengths == HEADER.size + 8 * (lowest + 4 * listed))
        shaped &= sizes == units
        body = np.frombuffer(
            b"".join(blob[HEADER.size :] for blob, good in zip(blobs, shaped, strict=True) if good),
            dtype="<i8",
        ).astype(np.int64, copy=False)
        lowest, listed = np.where(shaped, lowest, 0), np.where(shaped, listed, 0)
        words = lowest + 4 * listed
        starts = np.cumsum(words) - words
        at_digest, digest_owners = _spans(starts, lowest)
        at_table, table_owners = _spans(starts + lowest, 4 * listed)
        digests = body[at_digest]
        table, table_owners = body[at_table].reshape(-1, 4), table_owners[::4]

        readable = shaped & _strictly_ascending_within(digests, digest_owners, count)
        whole = listed == 0
        # a population sent without cells is its digests whole, of at most LOWEST units
        readable &= ~whole | ((lowest <= LOWEST) & (units == lowest))
        # a larger one keeps exactly LOWEST digests and its cells, each listed once
        readable &= whole | ((units > LOWEST) & (lowest == LOWEST))
        at = table[:, 0]
        in_range = (at >= 0) & (at < SIZE)
        readable[table_owners[~in_range | (table[:, 1] < 0)]] = False
        place = table_owners * SIZE + at.clip(0, SIZE - 1)
        readable[np.flatnonzero(np.bincount(place, minlength=count * SIZE) > 1) // SIZE] = False
        cells: Cells = (
            np.zeros((count, SIZE), dtype=np.int64),
            np.zeros((count, SIZE), dtype=np.int64),
            np.zeros((count, SIZE), dtype=np.int64),
        )
        kept = in_range & readable[table_owners]
        for dense, column in zip(cells, (1, 2, 3), strict=True):
            dense.reshape(-1)[place[kept]] = table[kept, column]
        per_partition = cells[0].reshape(count, PARTITIONS, CELLS).sum(axis=2)
        readable &= whole | (per_partition == units[:, None]).all(axis=1)
        digest_starts = np.cumsum(lowest) - lowest
        return cls(ids, units, thresholds, readable, digests, digest_starts, cells)

    @property
    def whole(self) -> np.ndarray:
        """Readable rows listed in full: at most LOWEST units, compared by their digests."""
        return self.readable & (self.units <= LOWEST)

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """The batch row of each cell id, −1 for an id the batch does not hold."""
        if not len(self.ids):
            return np.full(len(ids), -1, dtype=np.int64)
        order = np.argsort(self.ids)
        rows = order[np.searchsorted(self.ids[order], ids).clip(0, len(order) - 1)]
        return np.where(self.ids[rows] == ids, rows, -1)

    def sketch(self, row: int) -> Sketch | None:
        """One candidate as a `Sketch`, for the pairs compared one by one; None when it
        does not read. Read already: nothing is parsed again."""
        if not self.readable[row]:
            return None
        if row not in self._sketches:
            units, start = int(self.units[row]), int(self.starts[row])
            lowest = self.digests[start : start + min(units, LOWEST)]
            counts, xors, checks = self.cells
            given = None if units <= LOWEST else (counts[row], xors[row], checks[row])
            self._sketches[row] = Sketch(units, lowest, given)
        return self._sketches[row]

    def whole_differences(
        self, probes: ProbeColumns, pair_probes: np.ndarray, pair_rows: np.ndarray
    ) -> np.ndarray:
        """|A Δ B| for pairs of whole populations (probe, row of this batch), exactly:
        |A| + |B| − 2 |A ∩ B|, the intersection counted by looking each of the row's
        digests up among the probe's keys."""
        lengths = self.units[pair_rows]
        at, pair = _spans(self.starts[pair_rows], lengths)
        digests = self.digests[at]
        rank = np.searchsorted(probes.values, digests).clip(0, max(len(probes.values) - 1, 0))
        known = probes.values[rank] == digests if len(probes.values) else np.zeros(len(at), bool)
        keys = pair_probes[pair] * len(probes.values) + rank
        found = np.searchsorted(probes.keys, keys).clip(0, max(len(probes.keys) - 1, 0))
        shared = known & (probes.keys[found] == keys) if len(probes.keys) else known
        both = np.bincount(pair, weights=shared, minlength=len(pair_rows)).astype(np.int64)
        return probes.units[pair_probes] + lengths - 2 * both

    def settled(
        self,
        probes: ProbeColumns,
        pair_probes: np.ndarray,
        pair_rows: np.ndarray,
        thresholds: np.ndarray,
    ) -> np.ndarray:
        """For pairs of larger populations (probe, row of this batch), whether their
        difference sketch settles them as `closeness` would, without peeling: no cell
        that is not empty (the same population), or a partition with at least the
        pair's threshold of non-empty cells (proven far apart). Unreadable rows are
        never settled."""
        settled = np.zeros(len(pair_rows), dtype=bool)
        for start in range(0, len(pair_rows), _SCREENED_AT_ONCE):
            step = slice(start, start + _SCREENED_AT_ONCE)
            theirs = [figures[pair_probes[step]] for figures in probes.cells]
            mine = [figures[pair_rows[step]] for figures in self.cells]
            bound = non_empty(theirs[0] - mine[0], theirs[1] ^ mine[1], theirs[2] ^ mine[2])
            settled[step] = (bound == 0) | (bound >= thresholds[step])
        return settled & self.readable[pair_rows]
