"""The differencing store (差分检查库): the population of every cell released or awaiting
review in the domain, numbered, indexed by prefix, and compared (gate/differencing.py).

Cells enter when their job reaches awaiting_review (jobs/runner.py), so two jobs under
review cannot difference each other; they leave if the job is rejected and are marked
released when it is released (products/), where the job is checked once more against
released cells only. Everything here stays inside the domain.

Per check the store is read, not loaded whole: the unit numbers of the new cells'
digests (by the table's index, or from the numbering packed in a few segments when
the job has units enough to make reading those cheaper), the index rows under each new
cell's lowest numbers within its size window, and the bitmaps of the cells found
there. bench/bench_populations.py measures it against 1,000,000 cells.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from pyroaring import BitMap64
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    Table,
    and_,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from gate.differencing import (
    Candidate,
    Close,
    Probe,
    Stored,
    TablePopulations,
    close_pairs,
    differencing_findings,
    lowest,
    within_job,
)
from gate.findings import Finding
from gate.records import CellPopulation, NumberingSegment, PopulationPrefix, PopulationUnit

__all__ = [
    "Check",
    "Numbering",
    "check_at_release",
    "check_new",
    "distinct_units",
    "forget",
    "keep",
    "keep_bitmaps",
    "mark_released",
    "number_units",
]

# Units the store has never seen get numbers above every real one: they are in no
# stored cell, but the same unit must get the same number in two tables of one job.
TEMPORARY = 1 << 40
CHUNK = 2000  # values per IN list: within SQLite's and PostgreSQL's parameter limits
# A look-up by the table's index costs about as much as reading this many packed units
# (SQLite: 2.5 µs a digest against 0.5 s per 10M packed units, looked up included)
LOOKUP_COST = 50
SEGMENT = 4_000_000  # units per packed segment: 64 MB blobs, far below PostgreSQL's 1 GB
MERGE_AT = 8  # more partial segments than this, and they are merged
INSERT_CHUNK = 200_000  # new units per insert statement
# What a check looks up in the prefix index; one per database connection, emptied after use.
_WANTED = Table(
    "population_wanted",
    MetaData(),
    Column("probe", Integer),
    Column("unit", BigInteger),
    Column("units", Integer),
    Column("position", Integer),
)
_CREATE_WANTED = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS population_wanted "
    "(probe INTEGER, unit BIGINT, units INTEGER, position INTEGER)"
)


@dataclass(frozen=True)
class Numbering:
    """A job's distinct unit digests (sorted) and the number the store had for each when
    it was read, -1 for a unit it had not seen. A unit's number never changes once given
    (units are never deleted), so what one read found holds for the rest of the job: the
    check at recording and `keep` look up only the units that were still unseen, instead
    of reading the whole numbering again (10M units: ~7 s a read on SQLite)."""

    digests: np.ndarray
    numbers: np.ndarray
    # where each cell's digests sit in `digests`, the cells laid end to end in table
    # order (`distinct_units`): a cell's numbers are `numbers[places[a:b]]`
    places: np.ndarray
    # the cells' bitmaps, (file, row, bitmap) each, once every unit had a number: what
    # `keep` stores, built once (mapping 10M digests to numbers again took ~1 s)
    cells: tuple[tuple[str, int, BitMap64], ...] | None = None

    def refreshed(self, session: Session) -> Numbering:
        """The same digests with the units numbered since looked up."""
        numbers = _seen(session, self.digests, self.numbers)
        if numbers is self.numbers:
            return self
        return Numbering(self.digests, numbers, self.places)


def _seen(session: Session, digests: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    """`numbers` (-1: not known) with the units the store has numbered since looked up:
    a new array if any were unknown, else `numbers` itself."""
    unseen = numbers < 0
    if not unseen.any():
        return numbers
    numbers = numbers.copy()
    numbers[unseen] = _numbering(session, digests if unseen.all() else digests[unseen])
    return numbers


@dataclass
class Check:
    """The outcome of comparing cells with the store: the close pairs, how many cells
    were checked and how many stored cells were compared exactly, and the numbering it
    read (for `keep`)."""

    closes: list[Close]
    cells: int
    compared: int
    numbering: Numbering | None = None

    @property
    def findings(self) -> list[Finding]:
        return differencing_findings(self.closes)

    def summary(self) -> dict[str, Any]:
        """For the job's gate record (reviewers); operators never see it (jobs/records.py)."""
        labels = {f.figures["earlier"] for f in self.findings}
        return {"earlier": sorted(labels), "cells": self.cells, "compared": self.compared}


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _look_up(
    digests: np.ndarray, numbers: np.ndarray, known: np.ndarray, known_numbers: np.ndarray
) -> None:
    """Fill `numbers` (beside sorted `digests`) from known pairs (`known` sorted), searching
    the shorter array in the longer: a segment of 4M units is not searched 4M times for
    the ten units of a small job."""
    if not len(digests) or not len(known):
        return
    if len(known) <= len(digests):
        at = np.minimum(np.searchsorted(digests, known), len(digests) - 1)
        hit = digests[at] == known
        numbers[at[hit]] = known_numbers[hit]
    else:
        at = np.minimum(np.searchsorted(known, digests), len(known) - 1)
        hit = known[at] == digests
        numbers[hit] = known_numbers[at[hit]]


def _pairs(rows: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(digest, number) rows as two arrays sorted by digest."""
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    pairs = np.array(rows, dtype=np.int64)
    pairs = pairs[np.argsort(pairs[:, 0], kind="stable")]
    return pairs[:, 0], pairs[:, 1]


def _by_index(session: Session, digests: np.ndarray) -> np.ndarray:
    """Numbers of a few digests (sorted, unique) through the table's index, -1 for none."""
    numbers = np.full(len(digests), -1, dtype=np.int64)
    query = select(PopulationUnit.digest, PopulationUnit.id)
    rows: list[tuple[int, int]] = []
    for chunk in _chunks(digests.tolist()):
        found = session.execute(query.where(PopulationUnit.digest.in_(chunk)))
        rows += [(r[0], r[1]) for r in found]
    _look_up(digests, numbers, *_pairs(rows))
    return numbers


def _numbering(session: Session, digests: np.ndarray) -> np.ndarray:
    """The unit number of each digest (sorted, unique), -1 where the store has none:
    from the packed segments, or by the index when that costs less (a job with 60,000
    units would otherwise read all of a 100M-unit store's 1.6 GB)."""
    if not len(digests):
        return np.zeros(0, dtype=np.int64)
    packed = session.scalar(select(func.sum(NumberingSegment.units))) or 0
    if len(digests) * LOOKUP_COST < packed:
        return _by_index(session, digests)
    numbers = np.full(len(digests), -1, dtype=np.int64)
    for known, known_numbers in _segments(session):
        _look_up(digests, numbers, known, known_numbers)
    return numbers


def number_units(
    session: Session, digests: np.ndarray, known: np.ndarray | None = None
) -> np.ndarray:
    """Numbers for every digest, giving new ones to units not seen before; `known` is
    the numbering an earlier read of this transaction's store found (-1: unseen).

    New units are numbered in digest order, which is random, so the lowest numbers of a
    population (its index prefix) are a random sample of it and index rows spread out.
    """
    unknown = np.full(len(digests), -1, dtype=np.int64) if known is None else known
    numbers = _seen(session, digests, unknown)
    unseen = numbers < 0
    if unseen.any():  # then `_seen` made a new array: `known` stays as it was
        numbers[unseen] = _insert_new(session, digests[unseen])
    return numbers


def _insert_new(session: Session, digests: np.ndarray) -> np.ndarray:
    """Number unit digests (sorted, unique) the store had not seen, skipping those
    another job numbered meanwhile, and pack them into a segment in the same
    transaction; returns their numbers."""
    connection = session.connection()
    before = connection.scalar(select(func.max(PopulationUnit.id))) or 0
    _insert_digests(connection, digests)
    if connection.dialect.name == "sqlite":
        # SQLite has one writer (BEGIN IMMEDIATE), so if exactly len(digests) rows came
        # after `before` and end at before + len(digests), they are these, in this order
        newer = select(func.count(), func.max(PopulationUnit.id)).where(PopulationUnit.id > before)
        count, highest = connection.execute(newer).one()
        if count == len(digests) and highest == before + len(digests):
            numbers = before + 1 + np.arange(len(digests), dtype=np.int64)
            _add_segments(session, digests, numbers)
            return numbers
    numbers = np.full(len(digests), -1, dtype=np.int64)
    newer = select(PopulationUnit.digest, PopulationUnit.id).where(PopulationUnit.id > before)
    _look_up(digests, numbers, *_pairs(_driver_rows(connection, newer)))  # cheaper than by index
    rest = numbers < 0  # numbered by another job meanwhile
    if rest.any():
        numbers[rest] = _by_index(session, digests[rest])
    _add_segments(session, digests, numbers)
    return numbers


def _insert_digests(connection: Connection, digests: np.ndarray) -> None:
    """Insert digests in their order, skipping those already numbered: a chunk a statement,
    as one array (SQLite's json_each, PostgreSQL's unnest). An executemany took 2.7 times
    as long on SQLite (1.5 s per 1M units), and SQLAlchemy's own insert three times that."""
    table = PopulationUnit.__tablename__
    conflict = "ON CONFLICT (digest) DO NOTHING"
    for chunk in _chunks(digests.tolist(), INSERT_CHUNK):
        if connection.dialect.name == "sqlite":
            sql = (
                f"INSERT INTO {table} (digest) SELECT value FROM json_each(?) WHERE true {conflict}"
            )
            connection.exec_driver_sql(sql, (json.dumps(chunk),))
        else:
            sql = (
                f"INSERT INTO {table} (digest) SELECT d FROM unnest(%s::bigint[])"
                f" WITH ORDINALITY AS t(d, i) ORDER BY i {conflict}"
            )
            connection.exec_driver_sql(sql, (list(chunk),))


def _packed(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype="<i8").tobytes()


def _segments(
    session: Session, ids: Sequence[int] | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The packed numbering, a segment at a time: (digests sorted, numbers)."""
    query = select(NumberingSegment.digests, NumberingSegment.numbers)
    if ids is not None:
        query = query.where(NumberingSegment.id.in_(ids))
    # a segment at a time from the server too (PostgreSQL's client would buffer them all)
    query = query.order_by(NumberingSegment.id).execution_options(
        stream_results=True, max_row_buffer=1
    )
    for digests, numbers in session.connection().execute(query):
        yield (
            np.frombuffer(digests, dtype="<i8").astype(np.int64, copy=False),
            np.frombuffer(numbers, dtype="<i8").astype(np.int64, copy=False),
        )


def _add_segments(session: Session, digests: np.ndarray, numbers: np.ndarray) -> None:
    """Pack numbered units (digests sorted) into segments of at most SEGMENT units, then
    merge the partial segments once there are more than MERGE_AT of them."""
    _write_segments(session, digests, numbers)
    partial = NumberingSegment.units < SEGMENT
    ids = list(session.scalars(select(NumberingSegment.id).where(partial)))
    if len(ids) <= MERGE_AT:
        return
    parts = list(_segments(session, ids))
    merged = np.concatenate([d for d, _ in parts])
    merged_numbers = np.concatenate([n for _, n in parts])
    order = np.argsort(merged, kind="stable")  # runs already sorted: a merge, not a sort
    merged, merged_numbers = merged[order], merged_numbers[order]
    first = np.ones(len(merged), dtype=bool)  # a unit in two segments is the same pair
    first[1:] = merged[1:] != merged[:-1]
    session.execute(delete(NumberingSegment).where(NumberingSegment.id.in_(ids)))
    _write_segments(session, merged[first], merged_numbers[first])


def _write_segments(session: Session, digests: np.ndarray, numbers: np.ndarray) -> None:
    rows = [
        {
            "units": len(digests[start : start + SEGMENT]),
            "digests": _packed(digests[start : start + SEGMENT]),
            "numbers": _packed(numbers[start : start + SEGMENT]),
        }
        for start in range(0, len(digests), SEGMENT)
    ]
    if rows:
        session.execute(insert(cast(Table, NumberingSegment.__table__)), rows)


def _bitmaps(
    tables: Sequence[TablePopulations], places: np.ndarray, numbers: np.ndarray
) -> Iterator[tuple[str, int, BitMap64]]:
    """(file, row, bitmap of unit numbers) per cell; `places` from `distinct_units`."""
    start = 0
    for table in tables:
        for row, cell in zip(table.rows, table.digests, strict=True):
            yield table.file, row, BitMap64(numbers[places[start : start + len(cell)]])
            start += len(cell)


def distinct_units(tables: Sequence[TablePopulations]) -> tuple[np.ndarray, np.ndarray]:
    """The tables' distinct unit digests, sorted, and where each cell's digests sit among
    them (the cells laid end to end in table order).

    Each cell's digests are sorted already, so a stable sort of the cells end to end
    merges sorted runs: 0.2 s for ten cells of 1M units, where sorting the union
    afresh and then searching it for every cell's digests took 1.7 s."""
    cells = [d for table in tables for d in table.digests]
    if not cells:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    laid = np.concatenate(cells)
    order = np.argsort(laid, kind="stable")
    ordered = laid[order]
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    places = np.empty(len(laid), dtype=np.int64)
    places[order] = np.cumsum(first) - 1
    return ordered[first], places


def _probes(
    session: Session, tables: Sequence[TablePopulations], threshold: int, numbering: Numbering
) -> list[Probe]:
    if numbering.cells is not None:  # the recheck at recording: nothing new was numbered
        return [Probe(f, r, b, threshold) for f, r, b in numbering.cells]
    numbers = numbering.numbers.copy()
    unseen = numbers < 0
    numbers[unseen] = TEMPORARY + np.arange(int(unseen.sum()), dtype=np.int64)
    bitmaps = _bitmaps(tables, numbering.places, numbers)
    return [Probe(f, r, b, threshold) for f, r, b in bitmaps]


def _read_numbering(
    session: Session, tables: Sequence[TablePopulations], known: Numbering | None = None
) -> Numbering:
    """The numbering of the tables' units in the store, starting from `known` (an earlier
    read for the same tables) where there is one."""
    if known is not None:
        return known.refreshed(session)
    digests, places = distinct_units(tables)
    return Numbering(digests, _numbering(session, digests), places)


def _prefix_candidates(
    session: Session, probes: Sequence[Probe], width: int
) -> set[tuple[int, int]]:
    """(probe, cell) pairs sharing one of the probe's `width` lowest units, of a size
    within `width` of the probe's, at positions that allow a difference below `width`:
    a superset of the close pairs (gate/differencing.py says why).

    The wanted rows go to a temporary table and are joined with the index in one
    query, which walks the index's (unit, units) order for each.
    """
    rows = [
        {"probe": index, "unit": unit, "units": probe.units, "position": position}
        for index, probe in enumerate(probes)
        for position, unit in enumerate(lowest(probe.bitmap, width))
        if unit < TEMPORARY
    ]
    if not rows:
        return set()
    connection = session.connection()
    connection.execute(text(_CREATE_WANTED))
    connection.execute(delete(_WANTED))
    connection.execute(insert(_WANTED), rows)
    prefix, wanted = PopulationPrefix, _WANTED.c
    query = (
        select(wanted.probe, prefix.cell_id)
        .distinct()
        .join(
            prefix,
            and_(
                prefix.unit == wanted.unit,
                prefix.units.between(wanted.units - width + 1, wanted.units + width - 1),
                prefix.position + wanted.position < width,
                2 * prefix.position + wanted.units - prefix.units < width,
                2 * wanted.position - wanted.units + prefix.units < width,
            ),
        )
    )
    pairs: set[tuple[int, int]] = set(_driver_rows(connection, query))
    connection.execute(delete(_WANTED))
    return pairs


def _driver_rows(connection: Connection, query: ClauseElement) -> list[tuple[Any, ...]]:
    """The rows of a query whose only parameters are numbers, read through the driver's
    own cursor: the prefix lookup returns up to hundreds of thousands of pairs, and
    SQLAlchemy's row objects would cost more than the database does. Numbers are
    rendered inline, never text."""
    sql = str(query.compile(connection, compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _by_size(
    session: Session, probes: Sequence[tuple[int, int]], where: Any, window: int
) -> set[tuple[int, int]]:
    """Pairs of (size, probe index) with stored cells matching `where` whose size is
    within `window` of the probe's, found by size alone."""
    lo = min(size for size, _ in probes) - window + 1
    hi = max(size for size, _ in probes) + window - 1
    query = (
        select(CellPopulation.units, CellPopulation.id)
        .where(where, CellPopulation.units.between(lo, hi))
        .order_by(CellPopulation.units)
    )
    cells = np.array([tuple(r) for r in session.execute(query)], dtype=np.int64)
    pairs: set[tuple[int, int]] = set()
    if not len(cells):
        return pairs
    for size, index in probes:
        first, last = np.searchsorted(cells[:, 0], [size - window + 1, size + window])
        pairs.update((index, int(c)) for c in cells[first:last, 1])
    return pairs


def _unindexed_candidates(
    session: Session, probes: Sequence[Probe], width: int
) -> set[tuple[int, int]]:
    """Pairs the prefix index cannot vouch for, found by size: cells indexed under fewer
    units than a probe's threshold (kept under a laxer dataset rule); and populations
    sharing no unit yet together smaller than `width` (only cells released below their
    threshold can be so small, so this finds nothing in a sound store)."""
    pairs: set[tuple[int, int]] = set()
    for threshold in sorted({p.threshold for p in probes}):
        sizes = [(p.units, i) for i, p in enumerate(probes) if p.threshold == threshold]
        pairs |= _by_size(session, sizes, CellPopulation.threshold < threshold, threshold)
    tiny = [(p.units, i) for i, p in enumerate(probes) if p.units < width]
    if tiny:
        pairs |= _by_size(session, tiny, CellPopulation.units < width, width)
    return pairs


def _candidates(
    session: Session, ids: Sequence[int], job_id: int, released_only: bool
) -> dict[int, Candidate]:
    """Size, threshold and bitmap of the stored cells among `ids` that belong to other
    jobs (released only, if asked): the one read that grows with the candidates."""
    connection = session.connection()  # Core rows: the ORM's loading costs more than SQLite
    c = CellPopulation
    found: dict[int, Candidate] = {}
    for chunk in _chunks(sorted(ids)):
        query = select(c.id, c.units, c.threshold, c.bitmap)
        query = query.where(c.id.in_(chunk), c.job_id != job_id)
        if released_only:
            query = query.where(c.released.is_(True))
        for id_, units, threshold, blob in connection.execute(query):
            found[id_] = (units, threshold, BitMap64.deserialize(blob))
    return found


def _stored(session: Session, ids: set[int]) -> dict[int, Stored]:
    """Whose and where the close cells are, for the findings."""
    c = CellPopulation
    found: dict[int, Stored] = {}
    for chunk in _chunks(sorted(ids)):
        query = select(c.id, c.job_id, c.operator_id, c.file, c.row, c.released)
        for row in session.execute(query.where(c.id.in_(chunk))):
            found[row[0]] = Stored(*row)
    return found


def _against_store(
    session: Session, probes: Sequence[Probe], job_id: int, released_only: bool
) -> tuple[list[Close], int]:
    """Close pairs between the probes and stored cells of other jobs; and how many
    stored cells were compared exactly."""
    if not probes:
        return [], 0
    stored_widest = session.scalar(select(func.max(CellPopulation.threshold))) or 0
    width = max(stored_widest, *(p.threshold for p in probes))
    pairs = _prefix_candidates(session, probes, width)
    pairs |= _unindexed_candidates(session, probes, width)
    candidates = _candidates(session, list({cell for _, cell in pairs}), job_id, released_only)
    close = close_pairs(probes, candidates, pairs)
    stored = _stored(session, {cell for _, cell, _, _ in close})
    found = [Close(probes[i], stored[c], d, t) for i, c, d, t in close]
    return found, len(candidates)


def check_new(
    session: Session,
    job_id: int,
    tables: Sequence[TablePopulations],
    threshold: int,
    known: Numbering | None = None,
) -> Check:
    """A job's released cells against each other's tables and every cell in the store
    (released or awaiting review, any operator): the gate's differencing check. `known`
    is the numbering an earlier check of the same tables read."""
    numbering = _read_numbering(session, tables, known)
    probes = _probes(session, tables, threshold, numbering)
    if numbering.cells is None and (numbering.numbers >= 0).all():
        cells = tuple((p.file, p.row, p.bitmap) for p in probes)
        numbering = Numbering(numbering.digests, numbering.numbers, numbering.places, cells)
    closes, compared = _against_store(session, probes, job_id, released_only=False)
    return Check(within_job(probes) + closes, len(probes), compared, numbering)


def check_at_release(session: Session, job_id: int) -> Check:
    """A job's stored cells against released cells of other jobs, at approval: catches
    a job gated at the same moment as one released since (neither saw the other)."""
    rows = session.scalars(select(CellPopulation).where(CellPopulation.job_id == job_id))
    probes = [
        Probe(c.file, c.row, BitMap64.deserialize(c.bitmap), c.threshold)
        for c in sorted(rows, key=lambda c: (c.file, c.row))
    ]
    closes, compared = _against_store(session, probes, job_id, released_only=True)
    return Check(closes, len(probes), compared)


def keep(
    session: Session,
    job_id: int,
    operator_id: int,
    tables: Sequence[TablePopulations],
    threshold: int,
    known: Numbering | None = None,
) -> int:
    """Store a job's released cells (replacing any it had), numbering units not seen
    before; returns how many cells were stored. `known` is the numbering the job's
    check read for the same tables."""
    forget(session, job_id)
    if known is not None and known.cells is not None:
        return keep_bitmaps(session, job_id, operator_id, known.cells, threshold)
    if known is None:
        digests, places = distinct_units(tables)
        numbers = number_units(session, digests)
    else:
        places, numbers = known.places, number_units(session, known.digests, known.numbers)
    cells = list(_bitmaps(tables, places, numbers))
    return keep_bitmaps(session, job_id, operator_id, cells, threshold)


def keep_bitmaps(
    session: Session,
    job_id: int,
    operator_id: int,
    cells: Sequence[tuple[str, int, BitMap64]],
    threshold: int,
) -> int:
    """Store cells whose units are already numbered, (file, row, bitmap) each, with
    their index rows: the cell's `threshold` lowest unit numbers."""
    if not cells:
        return 0
    rows = [
        {
            "job_id": job_id,
            "operator_id": operator_id,
            "file": file,
            "row": row,
            "units": len(bitmap),
            "threshold": threshold,
            "released": False,
            "bitmap": bitmap.serialize(),
        }
        for file, row, bitmap in cells
    ]
    # Core inserts (the tables, not the classes): the ORM's bulk path costs more per row
    # than SQLite does, and a job may keep thousands of cells and ten times as many rows.
    cell_table = cast(Table, CellPopulation.__table__)
    prefix_table = cast(Table, PopulationPrefix.__table__)
    statement = insert(cell_table).returning(cell_table.c.id, sort_by_parameter_order=True)
    ids = list(session.scalars(statement, rows))
    prefixes = [
        {"unit": unit, "units": len(bitmap), "cell_id": cell_id, "position": position}
        for cell_id, (_, _, bitmap) in zip(ids, cells, strict=True)
        for position, unit in enumerate(lowest(bitmap, threshold))
    ]
    for chunk in _chunks(prefixes, 10 * CHUNK):
        session.execute(insert(prefix_table), list(chunk))
    return len(ids)


def forget(session: Session, job_id: int) -> None:
    """Remove a job's cells (rejected: nothing of it leaves, so nothing can difference it)."""
    cells = select(CellPopulation.id).where(CellPopulation.job_id == job_id)
    session.execute(delete(PopulationPrefix).where(PopulationPrefix.cell_id.in_(cells)))
    session.execute(delete(CellPopulation).where(CellPopulation.job_id == job_id))


def mark_released(session: Session, job_id: int) -> None:
    """The job's cells have left: from now on the check at approval compares with them."""
    session.execute(
        update(CellPopulation).where(CellPopulation.job_id == job_id).values(released=True)
    )
