# ruff: noqa: F811  (pytest fixtures imported from tests.jobs.conftest)
"""The differencing store: populations kept per cell, compared by symmetric difference
whatever the keys, across every operator, and exactly as a brute-force comparison would.

Cells are built here from unit digests directly (any int64 stands for a unit's digest);
tests/gate/test_differencing.py drives the same store through real jobs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from catalog.identifiers import sorted_distinct
from core.errors import Conflict
from core.population_sketch import LOWEST
from gate.differencing import TablePopulations, table_populations
from gate.findings import operator_gate
from gate.populations import check_at_release, check_new, forget, keep, mark_released
from gate.records import CellPopulation, PopulationPrefix
from gate.sketches import sketch_from_bytes, sketch_of
from products.reasons import reason
from service.domain import Domain
from service.web.i18n import translator
from service.web.wording import reason_words
from tests.gate.test_sketches import listed_cells
from tests.jobs.conftest import pg_domain, pg_server, pg_settings, pg_url  # noqa: F401

THRESHOLD = 10
BASE = list(range(1000, 1040))  # a 40-unit population


def digest(unit: int) -> int:
    """A unit's digest as ingest makes one (an MD5 half): the sketch places units by
    their digest's bits, so small consecutive numbers would crowd into a few cells."""
    return int.from_bytes(hashlib.md5(str(unit).encode()).digest()[:8], "big", signed=True)


def table(*cells: Iterable[int], file: str = "result.csv") -> TablePopulations:
    sketches = [sketch_of(np.array([digest(u) for u in c], dtype=np.int64)) for c in cells]
    return TablePopulations(file, list(range(len(sketches))), sketches)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def session(request: pytest.FixtureRequest) -> Iterator[Session]:
    """A session on a migrated domain database: SQLite, and PostgreSQL where available."""
    domain: Domain = request.getfixturevalue("domain" if request.param == "sqlite" else "pg_domain")
    with domain.transaction() as session:
        yield session


def differences(session: Session, new: TablePopulations, job: int = 99) -> list[int]:
    return sorted(
        f.figures["difference"] for f in check_new(session, job, [new], THRESHOLD).findings
    )


CASES = {
    # (stored population, new population, blocked)
    "one_unit_left_out": (BASE, BASE[1:], True),
    "one_unit_added": (BASE, [*BASE, 7], True),
    "same_population_again": (BASE, BASE, False),
    "nine_left_out": (BASE, BASE[9:], True),
    "threshold_left_out": (BASE, BASE[10:], False),
    "one_swapped_for_another": (BASE, [*BASE[1:], 7], True),  # equal n: Δ = 2
    "five_swapped": (BASE, [*BASE[5:], 1, 2, 3, 4, 5], False),  # Δ = 10
    "disjoint": (BASE, range(2000, 2040), False),
    "nested_subset": (BASE, BASE[:35], True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_cells_are_compared_by_population(session: Session, case: str) -> None:
    stored, new, blocked = CASES[case]
    keep(session, 1, 1, [table(stored)], THRESHOLD)
    found = differences(session, table(new))
    assert bool(found) is blocked
    expected = len(set(stored) ^ set(new))
    assert found == ([expected] if blocked else [])


def test_keys_do_not_matter_and_every_operator_is_compared(session: Session) -> None:
    keep(session, 1, 1, [table(range(500), BASE, file="by_district.csv")], THRESHOLD)
    check = check_new(session, 2, [table(range(100, 200), BASE[1:], file="renamed.csv")], 10)
    [finding] = check.findings
    assert finding.file == "renamed.csv" and finding.row == 1
    assert finding.figures["earlier"] == "job 1 (awaiting_review) by_district.csv"
    assert finding.figures["operator"] == 1 and finding.figures["earlier_rows"] == [1]
    assert check.summary() == {"earlier": [finding.figures["earlier"]], "cells": 2, "compared": 1}


def test_units_never_stored_count_in_the_difference(session: Session) -> None:
    keep(session, 1, 1, [table(BASE)], THRESHOLD)
    assert differences(session, table([*BASE[1:], 10**12])) == [2]
    assert differences(session, table([*BASE, *range(10**12, 10**12 + 9)])) == [9]


def test_a_jobs_tables_are_compared_with_each_other_but_not_a_tables_rows(
    session: Session,
) -> None:
    panel = table(BASE, BASE[1:])  # one table, two rows a unit apart: a yearly panel
    assert check_new(session, 5, [panel], THRESHOLD).findings == []
    two = [table(BASE, file="a.csv"), table(BASE[1:], file="b.csv")]
    [finding] = check_new(session, 5, two, THRESHOLD).findings
    assert finding.figures["earlier"] == "this job's a.csv" and finding.file == "b.csv"


def test_a_jobs_own_cells_and_rejected_jobs_are_not_compared(session: Session) -> None:
    keep(session, 1, 1, [table(BASE)], THRESHOLD)
    assert check_new(session, 1, [table(BASE[1:])], THRESHOLD).findings == []  # its own
    forget(session, 1)
    assert differences(session, table(BASE[1:])) == []
    assert session.scalar(select(func.count()).select_from(CellPopulation)) == 0
    assert session.scalar(select(func.count()).select_from(PopulationPrefix)) == 0


def test_at_release_only_released_cells_of_other_jobs_count(session: Session) -> None:
    keep(session, 1, 1, [table(BASE)], THRESHOLD)
    keep(session, 2, 2, [table(BASE[1:])], THRESHOLD)  # gated at the same moment as job 1
    assert check_at_release(session, 2).findings == []  # job 1 only awaits review
    mark_released(session, 1)
    [finding] = check_at_release(session, 2).findings
    assert finding.figures["earlier"] == "job 1 (released)" and finding.figures["difference"] == 1
    # refused at release, the finding is a reason the console words from its figures
    figures = {k: finding.figures[k] for k in ("earlier", "difference", "threshold", "groups")}
    refused = reason("differencing", row=finding.row, **figures)
    assert (refused.message, refused.suggestion) == (finding.message, finding.suggestion)
    zh = reason_words(refused, translator("zh-CN")).message
    assert zh.startswith("第 0 行，整表：所依据的群体与 job 1 (released) 之一只相差 1 个隐私单元")


def test_the_stricter_of_two_thresholds_applies(session: Session) -> None:
    keep(session, 1, 1, [table(range(100))], 30)  # a dataset asking for 30 units
    assert differences(session, table(range(80))) == [20]  # 20 < 30: blocked
    keep(session, 2, 1, [table(range(5000, 5100))], 5)  # a laxer one, indexed under 5 units
    assert differences(session, table(range(5000, 5093))) == [7]  # 7 < 10, the new job's


def test_thresholds_above_the_kept_prefix_are_found_by_size(session: Session) -> None:
    """A sketch keeps 64 lowest digests, so a rule asking for more units cannot rest on
    the prefix index; such pairs are found by size and still compared, both ways."""
    assert LOWEST == 64
    keep(session, 1, 1, [table(range(300))], 80)  # a dataset asking for 80 units
    [found] = differences(session, table(range(230)))  # Δ = 70 < 80: blocked
    assert found == 70 or (isinstance(found, str) and found.endswith("–79"))
    assert differences(session, table(range(300))) == []  # the same again
    assert differences(session, table(range(220))) == []  # Δ = 80: broad enough
    keep(session, 2, 1, [table(range(5000, 5100))], 5)
    probe = table(range(5000, 5030))  # Δ = 70 from job 2's cell, under this job's 80
    [close] = check_new(session, 9, [probe], 80).closes
    assert close.other.job_id == 2 and close.threshold == 80  # type: ignore[union-attr]


def test_a_difference_that_will_not_decode_is_withheld_with_its_bounds(session: Session) -> None:
    """Two units whose digests share every cell of the sketch (a stopping set an
    operator who knows digests could pick) leave a difference that does not decode:
    the store cannot name it, so the output is withheld, with the range it may take.
    (Populations of more than 64 units: smaller ones are compared whole.)"""
    larger = range(1000, 1100)
    keep(session, 1, 1, [table(larger)], THRESHOLD)
    low = digest(larger[0]) & ((1 << 18) - 1)
    twins = [(n << 18) | low for n in (12345, 67890)]  # the same 18 low bits
    sketches = [sketch_of(np.array([*(digest(u) for u in larger), *twins], dtype=np.int64))]
    check = check_new(session, 2, [TablePopulations("result.csv", [0], sketches)], THRESHOLD)
    [finding] = check.findings
    # at least 2: the sizes differ by two; at most 9, or it would not be withheld
    assert finding.figures["difference"] == "2–9" and check.closes[0].difference is None


def test_a_stored_sketch_that_does_not_read_is_never_passed(session: Session) -> None:
    """A damaged store cannot vouch for anything: against a new cell it counts as close
    (withheld), and a job whose own cell no longer reads cannot be released."""
    keep(session, 1, 1, [table(BASE)], THRESHOLD)
    keep(session, 2, 2, [table(range(3000, 3040))], THRESHOLD)
    mark_released(session, 1)
    stored = session.scalar(select(CellPopulation.sketch).where(CellPopulation.job_id == 1))
    assert stored == table(BASE).sketches[0].to_bytes() and sketch_from_bytes(stored)
    damaged = update(CellPopulation).where(CellPopulation.job_id == 1).values(sketch=b"\x01")
    session.execute(damaged)
    [close] = check_new(session, 3, [table(BASE)], THRESHOLD).closes  # Δ = 0, unprovable now
    assert close.difference is None and close.other.job_id == 1  # type: ignore[union-attr]
    session.execute(update(CellPopulation).where(CellPopulation.job_id == 2).values(sketch=b""))
    with pytest.raises(Conflict) as refused:
        check_at_release(session, 2)
    assert refused.value.message_code == "population_unreadable"


def test_the_prefix_index_finds_every_pair_brute_force_finds(session: Session) -> None:
    """Random populations with planted near-copies, thresholds from three datasets: every
    pair whose populations differ by 0 < Δ < t is found, as comparing every pair finds
    it, and named with its Δ; a pair the sketches could not decide is withheld, never
    passed, and is not taken for one that differs by less than it does."""
    rng = np.random.default_rng(11)
    universe = rng.integers(-(2**62), 2**62, 3000, dtype=np.int64)
    stored: list[tuple[int, set[int], int]] = []
    for job in range(1, 41):
        threshold = int(rng.choice([5, 10, 20]))
        cells = []
        for _ in range(8):
            size = int(rng.integers(5, 200))
            cells.append(set(rng.choice(universe, size, replace=False).tolist()))
        keep(session, job, job % 3, [table(*cells)], threshold)
        stored += [(job, c, threshold) for c in cells]
    probes: list[set[int]] = []
    for _, cell, _ in stored[::5]:
        near = set(cell)
        for _ in range(int(rng.integers(0, 12))):
            if rng.random() < 0.5 and len(near) > 1:
                near.discard(next(iter(near)))
            else:
                near.add(int(rng.choice(universe)))
        probes.append(near)
    check = check_new(session, 999, [table(*probes)], THRESHOLD)
    found = {(c.probe.row, c.other.job_id, c.other.row): c for c in check.closes}  # type: ignore[union-attr]
    expected = {}
    for row, probe in enumerate(probes):
        seen: dict[int, int] = {}
        for job, cell, threshold in stored:
            seen[job] = seen.get(job, -1) + 1
            delta = len(probe ^ cell)
            if 0 < delta < max(THRESHOLD, threshold):
                expected[(row, job, seen[job])] = delta
    assert expected and set(expected) <= set(found)
    for pair, close in found.items():
        if pair in expected:
            assert close.difference in (expected[pair], None)
        else:
            assert close.difference is None, "a decoded difference is the true one"
    decoded = sum(found[pair].difference is not None for pair in expected)
    assert decoded >= 0.95 * len(expected), "random digests almost always decode"


def test_table_populations_read_the_sketch_companions() -> None:
    """A row's population as the core sends it: more than 64 units as the lowest
    digests and the cells with units, fewer as the digests alone; either must count
    the row's `__n` units."""
    rng = np.random.default_rng(4)
    large = sketch_of(rng.integers(-(2**63), 2**63 - 1, 100, dtype=np.int64))
    small = sketch_of(np.array([7, -3, 2**40]))
    cells = [np.array(c) for c in listed_cells(large)]  # arrays, as pandas reads them
    frame = pd.DataFrame(
        {
            "__n": [100, 3],
            "__lowest": [large.lowest, small.lowest.tolist()],
            "__sketch": [cells, []],
        }
    )
    read = table_populations(frame, "result.csv", np.array([True, True]))
    assert read is not None and read.rows == [0, 1]
    assert [s.to_bytes() for s in read.sketches] == [large.to_bytes(), small.to_bytes()]
    only_first = table_populations(frame, "result.csv", np.array([True, False]))
    assert only_first is not None and only_first.rows == [0]
    everyone = np.ones(2, dtype=bool)
    assert table_populations(frame.drop(columns="__sketch"), "r.csv", everyone) is None
    floats = frame.assign(__lowest=[large.lowest.astype(float), [5]])
    assert table_populations(floats, "r.csv", everyone) is None  # low bits lost
    broken = frame.assign(__sketch=[cells[1:], []])  # counts ≠ size
    assert table_populations(broken, "r.csv", everyone) is None
    assert table_populations(frame.assign(__sketch=[None, None]), "r.csv", everyone) is None
    unsorted = frame.assign(__lowest=[large.lowest, small.lowest[::-1]])
    assert table_populations(unsorted, "r.csv", everyone) is None
    # a sketch of other units than the row's own
    for sizes in ([101, 3], [100, 4], [100, 2]):
        assert table_populations(frame.assign(__n=sizes), "r.csv", everyone) is None, sizes
    assert table_populations(frame.drop(columns="__n"), "r.csv", everyone) is None
    assert table_populations(frame.assign(__n=[100.0, 3.0]), "r.csv", everyone) is None


def test_operators_see_a_withheld_output_not_the_differencing_rule() -> None:
    gate = {
        "blocked": True,
        "counts": {"differencing": 1, "threshold": 2},
        "differencing": {"earlier": ["job 3 (released)"], "cells": 4, "compared": 1},
        "findings": [
            {"rule": "threshold", "row": 1, "column": "n", "figures": {"n": 3}, "suggestion": "s"},
            {"rule": "differencing", "row": 0, "column": None, "figures": {"earlier": "job 3"}},
        ],
    }
    shown = operator_gate(gate)
    assert "differencing" not in repr(shown) and "job 3" not in repr(shown)
    assert [f["rule"] for f in shown["findings"]] == ["withheld"]  # not even "threshold"
    assert "counts" not in shown and shown["blocked"] is True
    assert operator_gate({}) == {"findings": []}


@pytest.mark.parametrize("size", [0, 1, 2, 1000, 100_000])
def test_distinct_digests_by_a_sort_are_numpys_unique(size: int) -> None:
    """The gate's distinct unit digests come from a sort (NumPy 2.4's np.unique hashed
    integers first: 1.7 s for 1M digests against 0.014 s): the same array as np.unique,
    duplicates, negative digests and the extremes included."""
    rng = np.random.default_rng(size)
    values = rng.integers(-(2**63), 2**63 - 1, size, dtype=np.int64)
    if size > 2:
        values[: size // 3] = values[size // 3 : 2 * (size // 3)]  # a third repeated
        values[0], values[1] = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    found = sorted_distinct(values)
    assert found.dtype == np.int64
    assert np.array_equal(found, np.unique(values))


def test_a_cell_is_indexed_under_its_lowest_digests(session: Session) -> None:
    """The index rows of a kept cell are its `threshold` lowest digests in order, with
    the cell's size; the sketch the store keeps reads back as the one kept."""
    kept = table(range(500), range(3))
    keep(session, 4, 1, [kept], THRESHOLD)
    cells = session.execute(
        select(CellPopulation.id, CellPopulation.units, CellPopulation.sketch)
        .where(CellPopulation.job_id == 4).order_by(CellPopulation.row)
    ).all()  # fmt: skip
    for (cell_id, units, blob), sketch in zip(cells, kept.sketches, strict=True):
        assert blob == sketch.to_bytes() and units == sketch.units
        rows = session.execute(
            select(PopulationPrefix.unit, PopulationPrefix.units, PopulationPrefix.position)
            .where(PopulationPrefix.cell_id == cell_id).order_by(PopulationPrefix.position)
        ).all()  # fmt: skip
        depth = min(THRESHOLD, sketch.units)
        assert [r[0] for r in rows] == sketch.lowest[:depth].tolist()
        assert [r[1] for r in rows] == [sketch.units] * depth
        assert [r[2] for r in rows] == list(range(depth))
