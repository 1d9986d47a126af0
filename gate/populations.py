"""The differencing store (差分检查库): the population sketch of every cell released or
awaiting review in the domain, indexed by its lowest unit digests, and compared
(gate/differencing.py).

Cells enter when their job reaches awaiting_review (jobs/runner.py), so two jobs under
review cannot difference each other; they leave if the job is rejected and are marked
released when it is released (products/), where the job is checked once more against
released cells only. Everything here stays inside the domain.

A cell is kept as its sketch (gate/sketches.py: a few kilobytes whatever its size)
and indexed under its `threshold` lowest digests with their positions. Per check the
store is read, not loaded whole: the index rows under each new cell's lowest digests
within its size window, and the sketches of the cells found there, read and compared
by the batch (gate/stored_sketches.py).
bench/bench_populations.py measures it against 1,000,000 cells.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
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

from core.errors import Conflict
from core.population_sketch import LOWEST
from gate.differencing import (
    Close,
    Probe,
    Stored,
    TablePopulations,
    close_pairs,
    differencing_findings,
    within_job,
)
from gate.findings import Finding
from gate.records import CellPopulation, PopulationPrefix
from gate.sketches import sketch_from_bytes
from gate.stored_sketches import ProbeColumns, StoredSketches

__all__ = ["Check", "check_at_release", "check_new", "forget", "keep", "mark_released"]

CHUNK = 2000  # values per IN list: within SQLite's and PostgreSQL's parameter limits
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


@dataclass
class Check:
    """The outcome of comparing cells with the store: the close pairs, how many cells
    were checked and how many stored cells were compared by their sketches."""

    closes: list[Close]
    cells: int
    compared: int

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


def _probes(tables: Sequence[TablePopulations], threshold: int) -> list[Probe]:
    return [
        Probe(table.file, row, sketch, threshold)
        for table in tables
        for row, sketch in zip(table.rows, table.sketches, strict=True)
    ]


def _prefix_candidates(
    session: Session, probes: Sequence[Probe], width: int
) -> set[tuple[int, int]]:
    """(probe, cell) pairs sharing one of the probe's `width` lowest digests (at most
    the LOWEST a sketch keeps), of a size within `width` of the probe's, at positions
    that allow a difference below `width`: a superset of the close pairs the index
    can vouch for (gate/differencing.py says why; `_unindexed_candidates` the rest).

    The wanted rows go to a temporary table and are joined with the index in one
    query, which walks the index's (unit, units) order for each.
    """
    rows = [
        {"probe": index, "unit": int(digest), "units": probe.units, "position": position}
        for index, probe in enumerate(probes)
        for position, digest in enumerate(probe.sketch.lowest[:width])
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
    if not probes:
        return set()
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
    session: Session, probes: Sequence[Probe], width: int, stored_widest: int
) -> set[tuple[int, int]]:
    """Pairs the prefix index cannot vouch for, found by size:
    * cells indexed under fewer digests than a probe's threshold asks (kept under a
      laxer dataset rule);
    * cells whose own threshold is above LOWEST (indexed under LOWEST digests only),
      which also covers a probe's threshold above LOWEST against a stricter cell;
    * populations sharing no unit yet together smaller than `width` (only cells
      released below their threshold can be so small: nothing, in a sound store)."""
    pairs: set[tuple[int, int]] = set()
    everyone = [(p.units, i) for i, p in enumerate(probes)]
    for threshold in sorted({p.threshold for p in probes}):
        sizes = [(p.units, i) for i, p in enumerate(probes) if p.threshold == threshold]
        laxer = CellPopulation.threshold < threshold
        pairs |= _by_size(session, sizes, laxer, threshold)
    if stored_widest > LOWEST:
        pairs |= _by_size(session, everyone, CellPopulation.threshold > LOWEST, stored_widest)
    tiny = [(p.units, i) for i, p in enumerate(probes) if p.units < width]
    pairs |= _by_size(session, tiny, CellPopulation.units < width, width)
    return pairs


def _candidate_rows(
    session: Session, ids: Sequence[int], job_id: int, released_only: bool
) -> list[tuple[Any, ...]]:
    """(id, size, threshold, sketch bytes) of the stored cells among `ids` that belong
    to other jobs (released only, if asked): the one read that grows with the
    candidates."""
    c = CellPopulation
    # the ids rendered here: SQLAlchemy renders a literal in microseconds, and a check
    # asks for tens of thousands
    listed = text(f"{c.__tablename__}.id IN ({','.join(str(int(i)) for i in ids)})")
    query = select(c.id, c.units, c.threshold, c.sketch).where(listed, c.job_id != job_id)
    if released_only:
        query = query.where(c.released.is_(True))
    return _driver_rows(session.connection(), query)


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
    stored cells were compared by their sketches."""
    if not probes:
        return [], 0
    stored_widest = session.scalar(select(func.max(CellPopulation.threshold))) or 0
    width = max(stored_widest, *(p.threshold for p in probes))
    pairs = _prefix_candidates(session, probes, width)
    pairs |= _unindexed_candidates(session, probes, width, stored_widest)
    by_cell = np.array(sorted(pairs, key=lambda pair: pair[1]), dtype=np.int64).reshape(-1, 2)
    columns = ProbeColumns.of([p.sketch for p in probes], [p.threshold for p in probes])
    close, compared = [], 0
    for chunk in _chunks(np.unique(by_cell[:, 1]).tolist()):
        batch = StoredSketches.read(_candidate_rows(session, chunk, job_id, released_only))
        first = np.searchsorted(by_cell[:, 1], chunk[0], side="left")
        last = np.searchsorted(by_cell[:, 1], chunk[-1], side="right")
        close += close_pairs(probes, columns, batch, by_cell[first:last])
        compared += len(batch.ids)
    stored = _stored(session, {cell for _, cell, *_ in close})
    found = [Close(probes[i], stored[c], d, t, least) for i, c, d, t, least in close]
    return found, compared


def check_new(
    session: Session, job_id: int, tables: Sequence[TablePopulations], threshold: int
) -> Check:
    """A job's released cells against each other's tables and every cell in the store
    (released or awaiting review, any operator): the gate's differencing check."""
    probes = _probes(tables, threshold)
    closes, compared = _against_store(session, probes, job_id, released_only=False)
    return Check(within_job(probes) + closes, len(probes), compared)


def check_at_release(session: Session, job_id: int) -> Check:
    """A job's stored cells against released cells of other jobs, at approval: catches
    a job gated at the same moment as one released since (neither saw the other)."""
    rows = session.scalars(select(CellPopulation).where(CellPopulation.job_id == job_id))
    probes = []
    for cell in sorted(rows, key=lambda c: (c.file, c.row)):
        sketch = sketch_from_bytes(cell.sketch)
        if sketch is None:  # nothing can be proven about it: it does not leave
            raise Conflict.coded(
                "population_unreadable", job_id=job_id, file=cell.file, row=cell.row
            )
        probes.append(Probe(cell.file, cell.row, sketch, cell.threshold))
    closes, compared = _against_store(session, probes, job_id, released_only=True)
    return Check(closes, len(probes), compared)


def keep(
    session: Session,
    job_id: int,
    operator_id: int,
    tables: Sequence[TablePopulations],
    threshold: int,
) -> int:
    """Store a job's released cells (replacing any it had), each with its index rows:
    its `threshold` lowest digests (at most the LOWEST its sketch keeps). Returns how
    many cells were stored."""
    forget(session, job_id)
    probes = _probes(tables, threshold)
    if not probes:
        return 0
    rows = [
        {
            "job_id": job_id,
            "operator_id": operator_id,
            "file": probe.file,
            "row": probe.row,
            "units": probe.units,
            "threshold": threshold,
            "released": False,
            "sketch": probe.sketch.to_bytes(),
        }
        for probe in probes
    ]
    # Core inserts (the tables, not the classes): the ORM's bulk path costs more per row
    # than SQLite does, and a job may keep thousands of cells and ten times as many rows.
    cell_table = cast(Table, CellPopulation.__table__)
    prefix_table = cast(Table, PopulationPrefix.__table__)
    statement = insert(cell_table).returning(cell_table.c.id, sort_by_parameter_order=True)
    ids = list(session.scalars(statement, rows))
    prefixes = [
        {"unit": int(digest), "units": probe.units, "cell_id": cell_id, "position": position}
        for cell_id, probe in zip(ids, probes, strict=True)
        for position, digest in enumerate(probe.sketch.lowest[:threshold])
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
