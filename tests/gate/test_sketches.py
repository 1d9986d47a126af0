"""Population sketches: the core's SQL and the gate agree bit for bit, a planted unit left
out of a population is decoded and flagged, and no difference below the threshold is
ever passed, however the units were picked (brute force against exact sets).

Digests here are random int64s standing for units, as in tests/gate/test_populations.py.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from sqlglot import exp, parse_one

from catalog.identifiers import sorted_distinct
from core.population_sketch import CELL_BITS, CELLS, LOWEST, PARTITIONS, cell, check
from gate.sketches import (
    Sketch,
    compare,
    is_close,
    sketch_from_bytes,
    sketch_from_cells,
    sketch_of,
)
from policies.core_sql import (
    for_engine,
    lowest_digests,
    sketch_cell,
    sketch_cells,
    sketch_check,
    sketch_per_group,
)

THRESHOLD = 10
EXTREMES = [0, 1, -1, 2**63 - 1, -(2**63), 2**32, -(2**32), 0x7FFF_FFFF, 0xFFFF_FFFF]


def _digests(rng: np.random.Generator, count: int) -> np.ndarray:
    return sorted_distinct(rng.integers(-(2**63), 2**63 - 1, count, dtype=np.int64, endpoint=True))


def _fields(sketch: Sketch) -> tuple[object, ...]:
    return (
        sketch.units,
        sketch.lowest.tolist(),
        sketch.counts.tolist(),
        sketch.xors.tolist(),
        sketch.checks.tolist(),
    )


def listed_cells(sketch: Sketch) -> list[list[int]]:
    """A sketch's non-empty cells as the core lists them: [cell, count, XOR, check]."""
    at = np.flatnonzero(sketch.counts)
    figures = (sketch.counts, sketch.xors, sketch.checks)
    return [[int(a), *(int(f[a]) for f in figures)] for a in at]


def test_sql_and_numpy_place_and_check_every_digest_alike() -> None:
    digests = np.concatenate(
        [np.array(EXTREMES, dtype=np.int64), _digests(np.random.default_rng(1), 20_000)]
    )
    con = duckdb.connect()
    con.register("units", pa.table({"d": digests}))
    d = exp.column("d")
    listed = [sketch_cell(d, p).as_(f"c{p}") for p in range(PARTITIONS)]
    query = exp.select(*listed, sketch_check(d).as_("h")).from_("units").sql("duckdb")
    found = con.sql(query).fetchnumpy()
    for p in range(PARTITIONS):
        assert found[f"c{p}"].tolist() == cell(digests, p).tolist()
    assert found["h"].tolist() == check(digests).tolist()
    assert [check(int(v)) for v in EXTREMES] == check(np.array(EXTREMES, dtype=np.int64)).tolist()
    assert (check(digests) >= 0).all()


def core_sketches(table: str, dialect: str = "duckdb") -> str:
    """The query the core would run for a sketch per district: `__n`, `__lowest`, and
    `__sketch` from `sketch_per_group`, in `dialect`'s form."""
    source = parse_one(f"SELECT district, d FROM {table}")
    groups = sketch_per_group(sketch_cells(source, ["district"], "d"), ["district"])
    sizes = (
        exp.select("district", exp.Count(this=exp.column("d")).as_("__n"))
        .select(lowest_digests(exp.column("d")).as_("__lowest"))
        .from_(table)
        .group_by("district")
    )
    joined = (
        exp.select("s.district", "s.__n", "s.__lowest", "g.__sketch")
        .from_(sizes.subquery("s"))
        .join(groups.subquery("g"), on="s.district = g.district")
    )
    return for_engine(joined, dialect).sql(dialect)


def read_core_row(units: int, lowest: object, cells: object) -> Sketch:
    """The gate's reading of a row of `core_sketches`, as the rewrite sends it: a group
    of at most LOWEST units without its cells (whose SQL figures must still be the
    gate's own), a larger one with them."""
    listed = [np.asarray(c, dtype=np.int64) for c in cells]  # type: ignore[attr-defined]
    if units > LOWEST:
        built = sketch_from_cells(units, np.asarray(lowest), listed)
        assert built is not None
        return built
    built = sketch_from_cells(None, np.asarray(lowest), [])
    assert built is not None and built.whole and built.units == units
    dense = np.zeros((PARTITIONS * CELLS, 3), dtype=np.int64)
    for entry in listed:
        dense[entry[0]] = entry[1:]
    assert dense.T.tolist() == [v.tolist() for v in built.cells], "the SQL's cells"
    return built


def test_the_cores_sql_builds_the_gates_sketch_of_each_group() -> None:
    rng = np.random.default_rng(2)
    sizes = {"东城区": 5_000, "西城区": 40, "朝阳区": 1, "海淀区": 70_000, "丰台区": 64}
    sizes["石景山区"] = 65  # the first size sent with its cells
    keys, units = [], []
    for district, size in sizes.items():
        keys += [district] * size
        units.append(_digests(rng, size))
    con = duckdb.connect()
    con.register("register", pa.table({"district": keys, "d": np.concatenate(units)}))
    rows = {r[0]: r[1:] for r in con.sql(core_sketches("register")).fetchall()}
    for district, digests in zip(sizes, units, strict=True):
        assert _fields(read_core_row(*rows[district])) == _fields(sketch_of(digests))


def test_a_planted_unit_left_out_is_decoded_and_flagged() -> None:
    """The attack: SUM over a register, then the same SUM with a filter that leaves out
    one enterprise. The sketches alone name the enterprise the difference rests on."""
    rng = np.random.default_rng(3)
    register = _digests(rng, 200_000)
    target = int(register[12_345])
    everyone, all_but_one = sketch_of(register), sketch_of(register[register != target])
    assert is_close(everyone, all_but_one, THRESHOLD)
    found = compare(everyone, all_but_one)
    assert (found.difference, found.units) == (1, (target,))
    # and with a few companions swapped in and out, so the sizes are equal
    extra = _digests(rng, 4)
    shifted = np.concatenate([register[register != target], extra[:1]])
    widened = np.concatenate([register, extra[1:]])
    found = compare(sketch_of(shifted), sketch_of(widened))
    assert found.difference == 5 and target in found.units
    assert is_close(sketch_of(shifted), sketch_of(widened), THRESHOLD)
    # a cell of one unit beside an empty one: that unit's value, published
    nobody, one = sketch_of(register[:0]), sketch_of(register[:1])
    assert compare(nobody, one).units == (int(register[0]),)
    assert is_close(nobody, one, THRESHOLD)


def _colliding(rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` digests that share their cell in every partition (a stopping set): the
    low PARTITIONS·CELL_BITS bits equal, the rest random."""
    low = (1 << (PARTITIONS * CELL_BITS)) - 1
    common = int(rng.integers(0, low + 1))
    return (_digests(rng, count) & ~np.int64(low)) | np.int64(common)


def test_a_difference_that_will_not_decode_is_withheld_never_passed() -> None:
    """An operator who knows the digests picks units that share every cell: the
    difference cannot be peeled, and the gate reports it close rather than guess."""
    rng = np.random.default_rng(4)
    base = _digests(rng, 10_000)
    for size in (2, 3, 4, 6, THRESHOLD - 1):
        picked = _colliding(rng, size)
        assert len({tuple(cell(int(d), p) for p in range(PARTITIONS)) for d in picked}) == 1
        half = size // 2
        a = sketch_of(np.concatenate([base, picked[:half]]))
        b = sketch_of(np.concatenate([base, picked[half:]]))
        found = compare(a, b)
        assert found.difference is None and found.at_least < THRESHOLD
        assert is_close(a, b, THRESHOLD), size


@pytest.mark.parametrize("seed", range(4))
def test_no_difference_below_the_threshold_is_ever_passed(seed: int) -> None:
    """Brute force: differences of 1 to t − 1 units, split every way between the two
    sides, some drawn to crowd a few cells; each is close, and a complete decode names
    exactly the units the exact sets differ by."""
    rng = np.random.default_rng(100 + seed)
    base = _digests(rng, 3_000)
    decoded = 0
    for trial in range(300):
        size = int(rng.integers(1, THRESHOLD))
        pool = _colliding(rng, size) if trial % 5 == 0 else _digests(rng, size)
        pool = np.setdiff1d(pool, base)
        into_a = rng.random(len(pool)) < rng.random()
        a, b = np.concatenate([base, pool[into_a]]), np.concatenate([base, pool[~into_a]])
        drop = rng.choice(base, int(rng.integers(0, 3)), replace=False)  # units in both
        a, b = np.setdiff1d(a, drop), np.setdiff1d(b, drop)
        truth = np.setxor1d(a, b)
        found = compare(sketch_of(a), sketch_of(b))
        assert found.at_least <= len(truth)
        if found.difference is not None:
            assert found.units == tuple(sorted(truth.tolist()))
            decoded += 1
        assert is_close(sketch_of(a), sketch_of(b), THRESHOLD) == (len(truth) > 0)
    assert decoded >= 200  # the random differences decode; the crowded ones need not


@pytest.mark.parametrize("seed", range(3))
def test_broad_differences_and_unrelated_cells_pass(seed: int) -> None:
    """What must stay releasable: cells differing by t units or more, and two districts
    of nearly the same size with no unit in common."""
    rng = np.random.default_rng(200 + seed)
    base = _digests(rng, 5_000)
    for size in (THRESHOLD, THRESHOLD + 1, 3 * THRESHOLD, 150, 2_000):
        extra = np.setdiff1d(_digests(rng, size), base)
        a, b = sketch_of(base), sketch_of(np.concatenate([base, extra]))
        found = compare(a, b)
        assert found.at_least <= len(extra)
        assert not is_close(a, b, THRESHOLD), size
    east, west = _digests(rng, 1_000_000), _digests(rng, 1_000_003)
    assert compare(sketch_of(east), sketch_of(west)).at_least >= THRESHOLD
    assert not is_close(sketch_of(east), sketch_of(west), THRESHOLD)
    assert not is_close(sketch_of(base), sketch_of(base.copy()), THRESHOLD)  # the same query


def test_two_populations_that_differ_by_few_units_share_a_lowest_digest() -> None:
    """What the store's prefix index would rest on: if 0 < |A Δ B| < t ≤ LOWEST, some
    digest is among the LOWEST lowest of both (brute force, the lowest units moved)."""
    rng = np.random.default_rng(5)
    for _ in range(500):
        base = _digests(rng, int(rng.integers(1, 400)))
        size = int(rng.integers(1, THRESHOLD))
        moved = np.sort(base)[: min(size, len(base) - 1)] if rng.random() < 0.5 else None
        a = np.setdiff1d(base, moved) if moved is not None else base
        b = np.concatenate([base, _digests(rng, size - (len(moved) if moved is not None else 0))])
        if not 0 < len(np.setxor1d(a, b)) < THRESHOLD or not len(np.intersect1d(a, b)):
            continue
        assert np.intersect1d(sketch_of(a).lowest, sketch_of(b).lowest).size


def test_lists_that_do_not_add_up_are_refused() -> None:
    """A core's output the gate cannot trust is unreadable (the gate then withholds)."""
    digests = _digests(np.random.default_rng(6), 500)
    good = sketch_of(digests)
    cells = listed_cells(good)
    assert sketch_from_cells(500, good.lowest, cells) is not None
    assert sketch_from_cells(None, good.lowest, cells) is not None  # the size from the cells
    assert sketch_from_cells(501, good.lowest, cells) is None  # counts ≠ size
    assert sketch_from_cells(500, good.lowest[::-1], cells) is None  # prefix unsorted
    assert sketch_from_cells(500, good.lowest[:-1], cells) is None  # prefix short
    assert sketch_from_cells(500, good.lowest, [*cells, cells[0]]) is None  # a cell twice
    assert sketch_from_cells(500, good.lowest, [*cells[:-1], cells[-1][:3]]) is None
    beyond = [*cells[:-1], [PARTITIONS * CELLS, *cells[-1][1:]]]
    assert sketch_from_cells(500, good.lowest, beyond) is None
    assert sketch_from_cells(500, good.lowest, [["x", 1, 2, 3], *cells[1:]]) is None
    assert sketch_from_cells(500, good.lowest.astype(float), cells) is None  # low bits lost
    assert sketch_from_cells(500, good.lowest, []) is None  # 64 digests, but 500 units
    # a group of at most 64 units is its digests alone, sorted; never cells beside them
    small = sketch_of(digests[:40])
    assert sketch_from_cells(None, small.lowest, []) is not None
    assert sketch_from_cells(None, small.lowest[::-1], []) is None
    assert sketch_from_cells(40, small.lowest, listed_cells(small)) is None


def test_digests_far_apart_are_in_order() -> None:
    """Order is compared, never subtracted: neighbours more than 2^63 apart (common in a
    cell of a few units) would wrap around in int64 and read as unsorted."""
    far = np.array([-(2**63), -5, 2**62, 2**63 - 1], dtype=np.int64)
    read = sketch_from_cells(None, far, [])
    assert read is not None and read.lowest.tolist() == far.tolist()
    assert sketch_from_bytes(sketch_of(far).to_bytes()) is not None
    many = sketch_of(np.concatenate([far, _digests(np.random.default_rng(9), 500)]))
    assert sketch_from_bytes(many.to_bytes()) is not None


def test_a_stored_sketch_reads_back_the_same_and_a_damaged_one_not_at_all() -> None:
    """The store's form: a population of at most 64 units as its digests, a larger one
    with the cells that have units only, so it stays small; bytes cut short,
    of another format, or whose counts no longer add up read as no sketch (withheld)."""
    rng = np.random.default_rng(8)
    for size in (0, 1, 12, 63, 64, 65, 100_000):
        sketch = sketch_of(_digests(rng, size))
        back = sketch_from_bytes(sketch.to_bytes())
        assert back is not None and _fields(back) == _fields(sketch)
    assert len(sketch_of(_digests(rng, 1)).to_bytes()) == 13 + 8  # its one digest
    assert len(sketch_of(_digests(rng, 65)).to_bytes()) < 13 + 8 * 64 + 32 * 3 * 65
    stored = bytearray(sketch_of(_digests(rng, 500)).to_bytes())
    assert sketch_from_bytes(bytes(stored[:-8])) is None
    assert sketch_from_bytes(bytes([2]) + bytes(stored[1:])) is None
    stored[-24] ^= 1  # the last cell's count (its four figures are the last 32 bytes)
    assert sketch_from_bytes(bytes(stored)) is None
