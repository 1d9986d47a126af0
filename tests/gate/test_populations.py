# ruff: noqa: F811  (pytest fixtures imported from tests.jobs.conftest)
"""The differencing store: populations kept per cell, compared by symmetric difference
whatever the keys, across every operator, and exactly as a brute-force comparison would.

Cells are built here from unit digests directly (any int64 stands for a unit's digest);
tests/gate/test_differencing.py drives the same store through real jobs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
import pytest
from pyroaring import BitMap64
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog.identifiers import sorted_distinct
from gate import populations
from gate.differencing import TablePopulations, table_populations
from gate.findings import operator_gate
from gate.populations import (
    check_at_release,
    check_new,
    distinct_units,
    forget,
    keep,
    mark_released,
)
from gate.records import CellPopulation, NumberingSegment, PopulationPrefix, PopulationUnit
from products.reasons import reason
from service.domain import Domain
from service.web.i18n import translator
from service.web.wording import reason_words
from tests.jobs.conftest import pg_domain, pg_server, pg_settings, pg_url  # noqa: F401

THRESHOLD = 10
BASE = list(range(1000, 1040))  # a 40-unit population


def table(*cells: Iterable[int], file: str = "result.csv") -> TablePopulations:
    digests = [np.unique(np.array(list(c), dtype=np.int64)) for c in cells]
    return TablePopulations(file, list(range(len(digests))), digests)


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


def test_unit_numbers_are_shared_and_never_reassigned(session: Session) -> None:
    keep(session, 1, 1, [table(BASE)], THRESHOLD)
    first = dict(session.execute(select(PopulationUnit.digest, PopulationUnit.id)).all())
    keep(session, 2, 1, [table([*BASE, 5, 6])], THRESHOLD)
    forget(session, 1)
    again = dict(session.execute(select(PopulationUnit.digest, PopulationUnit.id)).all())
    assert {d: again[d] for d in first} == first and len(again) == len(first) + 2


def test_the_prefix_index_finds_exactly_what_brute_force_finds(session: Session) -> None:
    """Random populations with planted near-copies, thresholds from three datasets: the
    store's candidates-then-exact check agrees with comparing every pair."""
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
    found = sorted((c.probe.row, c.other.job_id, c.other.row) for c in check.closes)  # type: ignore[union-attr]
    expected = []
    for row, probe in enumerate(probes):
        seen: dict[int, int] = {}
        for job, cell, threshold in stored:
            seen[job] = seen.get(job, -1) + 1
            delta = len(probe ^ cell)
            if 0 < delta < max(THRESHOLD, threshold):
                expected.append((row, job, seen[job]))
    assert found == sorted(expected) and expected


def test_table_populations_read_the_units_companion() -> None:
    digest = (7).to_bytes(8, "big")
    frame = pd.DataFrame(
        {"n": [12, 3], "__units": [np.array([digest, None, (1).to_bytes(8, "big")]), [digest]]}
    )
    read = table_populations(frame, "result.csv", np.array([True, False]))
    assert read is not None and read.rows == [0]
    assert read.digests[0].tolist() == [1, 7]  # the null unit is skipped, as __n skips it
    assert table_populations(frame.drop(columns="__units"), "r.csv", np.ones(2, bool)) is None
    broken = frame.assign(__units=[[b"short"], [digest]])
    assert table_populations(broken, "r.csv", np.ones(2, bool)) is None


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


def _stored_bitmaps(session: Session, job: int) -> list[tuple[str, int, list[int]]]:
    cells = session.scalars(select(CellPopulation).where(CellPopulation.job_id == job))
    found = [(c.file, c.row, list(BitMap64.deserialize(c.bitmap))) for c in cells]
    return sorted(found)


def test_the_numbering_a_check_read_serves_the_recheck_and_keep(session: Session) -> None:
    """A job's check reads the store's numbering once; at recording the check again and
    `keep` look up only the units it had not seen. Units another job numbered meanwhile
    get that job's numbers (not new ones), and the job's stored cells and findings are
    exactly those of reading everything again."""
    mine = table(BASE, [*BASE[3:], *range(5000, 5020)])
    first = check_new(session, 7, [mine], THRESHOLD)
    assert first.numbering is not None
    assert (first.numbering.numbers < 0).all(), "nothing was numbered yet"
    keep(session, 1, 1, [table(range(5000, 5010), BASE[1:])], THRESHOLD)  # meanwhile
    again = check_new(session, 7, [mine], THRESHOLD, first.numbering)
    fresh = check_new(session, 7, [mine], THRESHOLD)
    assert again.numbering is not None and fresh.numbering is not None
    assert np.array_equal(again.numbering.numbers, fresh.numbering.numbers)
    assert (again.numbering.numbers >= 0).sum() == len(BASE) - 1 + 10
    assert [f.figures for f in again.findings] == [f.figures for f in fresh.findings]
    assert again.findings, "the job kept meanwhile differs from this one by one unit"
    keep(session, 7, 2, [mine], THRESHOLD, again.numbering)
    keep(session, 8, 2, [mine], THRESHOLD)  # the same cells, numbered from scratch
    reread = _stored_bitmaps(session, 7)
    assert reread == _stored_bitmaps(session, 8) and len(reread) == 2
    units = session.scalar(select(func.count()).select_from(PopulationUnit))
    assert units == len(set(BASE) | set(range(5000, 5020))), "no unit numbered twice"
    repeat = check_new(session, 9, [mine], THRESHOLD)  # every unit has a number now
    assert repeat.numbering is not None and repeat.numbering.cells is not None
    recheck = check_new(session, 9, [mine], THRESHOLD, repeat.numbering)
    assert [f.figures for f in recheck.findings] == [f.figures for f in repeat.findings]
    keep(session, 9, 2, [mine], THRESHOLD, recheck.numbering)  # the cells the check built
    assert _stored_bitmaps(session, 9) == reread


def _segment_pairs(session: Session) -> dict[int, int]:
    """Every (digest, number) pair the packed segments hold; one number per unit."""
    found: dict[int, int] = {}
    for digests, numbers in session.execute(
        select(NumberingSegment.digests, NumberingSegment.numbers)
    ):
        packed = np.frombuffer(digests, dtype="<i8").tolist()
        assert packed == sorted(packed), "a segment is sorted by digest"
        beside = np.frombuffer(numbers, dtype="<i8").tolist()
        for digest, number in zip(packed, beside, strict=True):
            assert found.setdefault(digest, number) == number, "one unit, two numbers"
    return found


@pytest.mark.parametrize("lookup_cost", [0, 10**9], ids=["by_index", "packed"])
def test_the_packed_numbering_holds_every_unit_and_answers_as_the_table(
    session: Session, monkeypatch: pytest.MonkeyPatch, lookup_cost: int
) -> None:
    """A job with many units for the store's size reads the numbering from packed
    segments, not a row per unit; others look units up by the table's index. Each way
    forced here, and sizes shrunk so eleven jobs insert in chunks and write, fill and
    merge segments: the segments then hold exactly the table's pairs, new units are
    numbered in digest order, and a large check finds for every digest the table's
    number (or none), units numbered by earlier jobs included."""
    monkeypatch.setattr(populations, "LOOKUP_COST", lookup_cost)
    monkeypatch.setattr(populations, "SEGMENT", 50)
    monkeypatch.setattr(populations, "MERGE_AT", 3)
    monkeypatch.setattr(populations, "INSERT_CHUNK", 7)
    rng = np.random.default_rng(5)
    seen: list[int] = []
    for job in range(1, 12):
        cells = [rng.integers(-(2**63), 2**63 - 1, int(n), dtype=np.int64) for n in (15, 40, 90)]
        if seen:  # units earlier jobs numbered
            cells.append(np.array(rng.choice(seen, 40), dtype=np.int64))
        keep(session, job, 1, [table(*cells)], THRESHOLD)
        new = sorted(set(np.concatenate(cells).tolist()) - set(seen))
        numbers = [session.scalar(select(PopulationUnit.id).filter_by(digest=d)) for d in new]
        assert numbers == sorted(numbers), "new units are numbered in digest order"
        seen = sorted(set(seen) | set(new))
    numbered = dict(session.execute(select(PopulationUnit.digest, PopulationUnit.id)).all())
    assert len(numbered) == len(seen)
    assert _segment_pairs(session) == numbered
    sizes = list(session.scalars(select(NumberingSegment.units)))
    assert 50 in sizes, "full segments were written"
    assert sum(1 for size in sizes if size < 50) <= 3, "partial segments were merged"
    wanted = np.array(
        [*rng.choice(seen, 60), *rng.integers(-(2**63), 2**63 - 1, 20, dtype=np.int64)],
        dtype=np.int64,
    )
    check = check_new(session, 99, [table(wanted)], THRESHOLD)
    assert check.numbering is not None
    expected = [numbered.get(d, -1) for d in check.numbering.digests.tolist()]
    assert check.numbering.numbers.tolist() == expected
    assert sum(n >= 0 for n in expected) >= 50  # (60 drawn with repeats from the numbered)


@pytest.mark.postgres
def test_two_jobs_numbering_the_same_units_at_once_pack_one_numbering(pg_domain: Domain) -> None:
    """PostgreSQL lets two jobs number units at once: the second waits on the first's
    uncommitted units, skips them and reads their numbers. Each packs what it saw;
    together the segments hold every unit once numbered, with its one number, and
    both jobs' bitmaps use those numbers."""
    first_units, second_units = range(0, 200), range(100, 300)
    first_done, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with pg_domain.transaction() as session:
                keep(session, 1, 1, [table(first_units)], THRESHOLD)
                first_done.set()
                release.wait(30)  # commit only once the second is waiting on these units
        except BaseException as exc:  # noqa: BLE001  shown by the assertion below
            errors.append(exc)
            first_done.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert first_done.wait(30)
    threading.Timer(1.0, release.set).start()  # the second blocks in its insert meanwhile
    with pg_domain.transaction() as session:
        keep(session, 2, 1, [table(second_units)], THRESHOLD)
    thread.join(30)
    assert not errors and release.is_set()
    with pg_domain.transaction() as session:
        numbered = dict(session.execute(select(PopulationUnit.digest, PopulationUnit.id)).all())
        assert sorted(numbered) == list(range(300))
        assert _segment_pairs(session) == numbered
        for job, units in ((1, first_units), (2, second_units)):
            (stored,) = _stored_bitmaps(session, job)
            assert stored[2] == sorted(numbered[u] for u in units)


def test_distinct_units_places_every_cell_digest_in_the_sorted_union() -> None:
    """Overlapping and disjoint cells in two tables, signed digests of every size, an
    empty cell: the union is sorted and unique, and each cell reads back from its places."""
    rng = np.random.default_rng(5)
    pool = rng.integers(-(2**63), 2**63 - 1, 3000, dtype=np.int64)
    cells = [rng.choice(pool, size, replace=False) for size in (1000, 1500, 0, 2000, 7)]
    tables = [table(*cells[:3]), table(*cells[3:], file="other.csv")]
    digests, places = distinct_units(tables)
    assert digests.tolist() == sorted(set(np.concatenate(cells).tolist()))
    laid = [d for t in tables for d in t.digests]
    assert len(places) == sum(len(d) for d in laid)
    start = 0
    for cell in laid:
        assert digests[places[start : start + len(cell)]].tolist() == cell.tolist()
        start += len(cell)
    assert [len(a) for a in distinct_units([])] == [0, 0]
