"""Stored sketches read and screened together: the batch reads every stored form exactly
as the one-by-one reading does (damaged ones included), and its screen never drops a
pair that `closeness` would call close, while it does settle unrelated ones.

Digests are random int64s standing for units, as in tests/gate/test_sketches.py.
"""

from __future__ import annotations

import struct

import numpy as np

from core.population_sketch import LOWEST
from gate.differencing import Probe, close_pairs
from gate.sketches import FORMAT, HEADER, SIZE, Sketch, closeness, sketch_from_bytes, sketch_of
from gate.stored_sketches import ProbeColumns, StoredSketches
from tests.gate.test_sketches import _digests, _fields

THRESHOLD = 10


def _parts(blob: bytes) -> tuple[tuple[int, ...], np.ndarray, np.ndarray]:
    header = HEADER.unpack_from(blob)
    body = np.frombuffer(blob, dtype="<i8", offset=HEADER.size).astype(np.int64)
    return header, body[: header[2]].copy(), body[header[2] :].reshape(-1, 4).copy()


def _blob(header: tuple[int, ...], lowest: np.ndarray, table: np.ndarray) -> bytes:
    body = np.concatenate([lowest, table.reshape(-1)]).astype("<i8")
    return HEADER.pack(*header) + body.tobytes()


def _damaged(rng: np.random.Generator) -> list[tuple[str, int, bytes]]:
    """Stored forms that must not read, each with the size its row claims."""
    small = sketch_of(_digests(rng, 30)).to_bytes()
    large = sketch_of(_digests(rng, 400)).to_bytes()
    (form, units, lowest, listed), prefix, table = _parts(large)
    _, small_prefix, _ = _parts(small)
    swapped, twice, outside, negative, uneven = (table.copy() for _ in range(5))
    twice[1, 0] = twice[0, 0]
    outside[0, 0] = SIZE
    negative[0, 1] = -negative[0, 1]
    uneven[0, 1] += 1
    again = (form, units, lowest, listed + 1)  # the first cell listed once more
    swapped_prefix = prefix.copy()
    swapped_prefix[[3, 4]] = swapped_prefix[[4, 3]]
    return [
        ("empty", 0, b""),
        ("cut short", 400, large[:-8]),
        ("header only", 400, large[: HEADER.size]),
        ("another format", 400, bytes([FORMAT + 1]) + large[1:]),
        ("unsorted prefix", 400, _blob((form, units, lowest, listed), swapped_prefix, table)),
        ("a cell twice", 400, _blob((form, units, lowest, listed), prefix, twice)),
        ("a cell twice alike", 400, _blob(again, prefix, np.vstack([table, table[:1]]))),
        ("a cell out of range", 400, _blob((form, units, lowest, listed), prefix, outside)),
        ("a negative count", 400, _blob((form, units, lowest, listed), prefix, negative)),
        ("counts that do not add up", 400, _blob((form, units, lowest, listed), prefix, uneven)),
        ("a short prefix", 400, _blob((form, units, lowest - 1, listed), prefix[1:], table)),
        ("cells beside a small population", 30, _blob((form, 30, 30, listed), small_prefix, table)),
        ("a whole population miscounted", 31, _blob((form, 31, 30, 0), small_prefix, table[:0])),
        (
            "a whole population too large",
            65,
            _blob((form, 65, 65, 0), _digests(rng, LOWEST + 1), table[:0]),
        ),
        ("the row says another size", 401, large),
        ("the header says another size", 400, _blob((form, 401, lowest, listed), prefix, table)),
        ("unsorted whole population", 30, _blob((form, 30, 30, 0), small_prefix[::-1], table[:0])),
    ]


def test_the_batch_reads_each_form_as_the_one_by_one_reading_does() -> None:
    rng = np.random.default_rng(21)
    sound = [sketch_of(_digests(rng, size)) for size in (0, 1, 2, 17, 63, 64, 65, 66, 300, 50_000)]
    sound.append(sketch_of(np.array([-(2**63), -5, 2**62, 2**63 - 1], dtype=np.int64)))
    damaged = _damaged(rng)
    rows = [(100 + i, s.units, THRESHOLD, s.to_bytes()) for i, s in enumerate(sound)]
    rows += [(500 + i, units, THRESHOLD, blob) for i, (_, units, blob) in enumerate(damaged)]
    rng.shuffle(rows)  # type: ignore[arg-type]
    batch = StoredSketches.read(rows)

    for row, (id_, units, _, blob) in enumerate(rows):
        one = sketch_from_bytes(blob)
        expected = one is not None and one.units == units
        label = id_ if id_ < 500 else damaged[id_ - 500][0]
        assert bool(batch.readable[row]) == expected, label
        assert (batch.sketch(row) is not None) == expected, label
        if expected:
            mine = batch.sketch(row)
            assert one is not None and mine is not None
            assert _fields(mine) == _fields(one), label
            assert bool(batch.whole[row]) == one.whole, label
    assert int(batch.readable.sum()) == len(sound)


def test_rows_are_found_by_id_and_missing_ids_are_not() -> None:
    rng = np.random.default_rng(22)
    rows = [(id_, 5, THRESHOLD, sketch_of(_digests(rng, 5)).to_bytes()) for id_ in (9, 3, 7)]
    batch = StoredSketches.read(rows)
    assert batch.rows_of(np.array([3, 4, 7, 9, 10, 0])).tolist() == [1, -1, 2, 0, -1, -1]
    empty = StoredSketches.read([])
    assert empty.rows_of(np.array([1, 2])).tolist() == [-1, -1]
    assert not len(empty.readable)


def _population_pairs(rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """New populations and stored ones: near copies (a few units left out, swapped or
    added), the same population, and unrelated ones of a similar size, small and large."""
    probes, stored = [], []
    changes = [(0, 0), (1, 0), (0, 1), (1, 1), (2, 3), (3, 3), (4, 4), (5, 4), (0, 9), (9, 0)]
    changes += [(5, 5), (6, 6), (3, 5), (7, 2)]  # differences of 0 to 12 units
    for size in (8, 20, 40, 60, 64, 66, 90, 300, 2_000):
        base = _digests(rng, size)
        probes.append(base)
        extra = _digests(rng, 12)
        for left_out, added in changes:
            stored.append(np.union1d(base[left_out:], extra[:added]))
        stored.append(_digests(rng, size))
        stored.append(_digests(rng, size + 3))
    return probes, stored


def test_the_batch_settles_pairs_as_closeness_does_one_by_one() -> None:
    """Whole populations compared exactly, larger ones screened: the close pairs and
    their differences are those `closeness` finds pair by pair, every truly close
    pair among them, and the screen settles only pairs proven far."""
    rng = np.random.default_rng(23)
    populations, stored_populations = _population_pairs(rng)
    probes = [Probe("t.csv", i, sketch_of(p), THRESHOLD) for i, p in enumerate(populations)]
    stored = [sketch_of(s) for s in stored_populations]
    rows = [(1000 + i, s.units, THRESHOLD, s.to_bytes()) for i, s in enumerate(stored)]
    batch = StoredSketches.read(rows)
    pairs = np.array([(p, 1000 + s) for p in range(len(probes)) for s in range(len(stored))])
    columns = ProbeColumns.of([p.sketch for p in probes], [THRESHOLD] * len(probes))

    def truth(p: int, s: int) -> int:
        return len(np.setxor1d(populations[p], stored_populations[s - 1000]))

    whole = columns.whole[pairs[:, 0]] & batch.whole[pairs[:, 1] - 1000]
    exact = batch.whole_differences(columns, pairs[whole, 0], pairs[whole, 1] - 1000)
    assert exact.tolist() == [truth(p, s) for p, s in pairs[whole].tolist()]
    large = ~columns.whole[pairs[:, 0]] & ~batch.whole[pairs[:, 1] - 1000]
    thresholds = np.full(large.sum(), THRESHOLD)
    settled = batch.settled(columns, pairs[large, 0], pairs[large, 1] - 1000, thresholds)
    for (p, s), done in zip(pairs[large].tolist(), settled.tolist(), strict=True):
        if done:
            assert truth(p, s) == 0 or truth(p, s) >= THRESHOLD
            assert closeness(probes[p].sketch, stored[s - 1000], THRESHOLD) is None
    same = np.array([truth(p, s) == 0 for p, s in pairs[large].tolist()])
    assert settled[same].all() and same.any()  # the same population again is settled
    assert whole.sum() > 50 and settled.sum() > large.sum() // 2  # both paths do work

    found = close_pairs(probes, columns, batch, pairs)
    one_by_one = []
    for p, s in pairs.tolist():
        other: Sketch = stored[s - 1000]
        if abs(other.units - probes[p].units) >= THRESHOLD:
            continue
        close = closeness(probes[p].sketch, other, THRESHOLD)
        if close is not None:
            one_by_one.append((p, s, close.difference, THRESHOLD, max(close.at_least, 1)))
    assert sorted(found, key=str) == sorted(one_by_one, key=str)
    truly = {(p, s) for p, s in pairs.tolist() if 0 < truth(p, s) < THRESHOLD}
    assert {(p, s) for p, s, *_ in found} >= truly and truly


def test_an_unreadable_stored_cell_is_close_to_every_probe_of_a_near_size() -> None:
    rng = np.random.default_rng(24)
    probe = Probe("t.csv", 0, sketch_of(_digests(rng, 200)), THRESHOLD)
    damaged = bytearray(sketch_of(_digests(rng, 203)).to_bytes())
    damaged[-24] ^= 1
    far_off = sketch_of(_digests(rng, 5_000)).to_bytes()
    batch = StoredSketches.read([(1, 203, THRESHOLD, bytes(damaged)), (2, 5_000, 10, far_off)])
    pairs = np.array([(0, 1), (0, 2)])
    columns = ProbeColumns.of([probe.sketch], [THRESHOLD])
    found = close_pairs([probe], columns, batch, pairs)
    assert found == [(0, 1, None, THRESHOLD, 3)]
    # its figures, unrelated to the probe's, would prove it far: unreadable, it is not
    assert not batch.readable[0]
    zero = np.array([0])
    assert not batch.settled(columns, zero, zero, np.array([THRESHOLD])).any()


def test_probe_columns_hold_each_probes_cells_or_digests() -> None:
    rng = np.random.default_rng(25)
    sketches = [sketch_of(_digests(rng, size)) for size in (0, 1, LOWEST, LOWEST + 1, 700, 3)]
    columns = ProbeColumns.of(sketches, [THRESHOLD] * len(sketches))
    assert columns.whole.tolist() == [True, True, True, False, False, True]
    for i, sketch in enumerate(sketches):
        for mine, theirs in zip(columns.cells, sketch.cells, strict=True):
            assert mine[i].tolist() == (theirs.tolist() if not sketch.whole else [0] * SIZE)
    listed = {int(key) // len(columns.values) for key in columns.keys}
    assert listed == {1, 2, 5} and len(columns.keys) == 1 + LOWEST + 3
    assert struct.calcsize("<BqHH") == HEADER.size == 13
