"""Benchmark: the differencing check of a new table against 1,000,000 stored cells.

    .venv/bin/python bench/bench_populations.py --dir /tmp/pop   # --cells 1000000 --units 200000
    .venv/bin/python bench/bench_populations.py --dir /tmp/pop --reuse  # time again, no rebuild

Builds a differencing store (gate/populations.py) in a SQLite file: a domain of
`--units` privacy units, each with five categorical attributes of skewed frequencies
(12 districts, 20 industries, 6 size classes, 40 founding years, 150 streets) and a
measure; then tables as an analyst asks for them, a filter (none, one attribute
value, or a measure quantile) and a breakdown by one or two attributes, each group
kept as its population sketch (gate/sketches.py) through the store's own insert path
(`keep`, 50 jobs per commit), until `--cells` cells of at least `--threshold` units
are stored. Cells are nested and overlapping as real releases are.

Then times checking a new table of about `--new` cells (a street × size breakdown,
plus ten near-copies of stored cells, one unit left out of each, as an attacker
would ask): `check_new` as the gate runs it, median of `--repeat` runs in a fresh
session each. The store keeps sketches, not units, so the near-copies come from a
seeded sample of the stored groups taken while building and written beside the
store (`near.npz`: their jobs, rows and unit digests); a reused store meets the same
new table. Beside it, in the same run and on the same store, the size index alone:
every stored (id, size) loaded once, a sorted array of sizes, every cell of a close
size fetched and compared with `gate.sketches.closeness`, timed on a sample of
`--sample` new cells and extrapolated to the whole table (it is linear in it), with
the candidates it had to compare; on that sample it must find the very close pairs
`check_new` found. Prints figures; never part of the test pass/fail.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import service.tables  # noqa: E402, F401  (every table on the metadata)
from core.db import Base  # noqa: E402
from gate.differencing import Close, Stored, TablePopulations  # noqa: E402
from gate.populations import check_new, forget, keep  # noqa: E402
from gate.records import CellPopulation, PopulationPrefix  # noqa: E402
from gate.sketches import Sketch, closeness, sketch_from_bytes, sketch_of  # noqa: E402
from service.db import make_engine, session_factory  # noqa: E402

NEW_JOB = 10**9
NEAR = 10  # near-copies in the new table
ATTRIBUTES = {"district": 12, "industry": 20, "size": 6, "year": 40, "street": 150}


class Domain:
    """The synthetic units: digests, attributes and a measure."""

    def __init__(self, units: int, seed: int) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.digests = np.unique(self.rng.integers(-(2**63), 2**63 - 1, units, dtype=np.int64))
        count = len(self.digests)
        self.attributes = {
            name: self.rng.choice(card, count, p=self.rng.dirichlet(np.ones(card)))
            for name, card in ATTRIBUTES.items()
        }
        self.measure = self.rng.lognormal(3, 1.5, count)

    def table(self, threshold: int, keys: list[str] | None = None) -> list[np.ndarray]:
        """One analyst's table: the unit positions of each group of at least `threshold`."""
        rng = self.rng
        chosen = np.arange(len(self.digests))
        kind = rng.random()
        if kind < 0.4:
            name = str(rng.choice(list(ATTRIBUTES)))
            chosen = chosen[self.attributes[name] == rng.integers(ATTRIBUTES[name])]
        elif kind < 0.8:
            chosen = chosen[self.measure[chosen] < np.quantile(self.measure, rng.uniform(0.05, 1))]
        if keys is None:
            picked = rng.choice(list(ATTRIBUTES), int(rng.integers(1, 3)), replace=False)
            keys = [str(k) for k in picked]
        code = np.zeros(len(chosen), dtype=np.int64)
        for name in keys:
            code = code * ATTRIBUTES[name] + self.attributes[name][chosen]
        order = np.argsort(code, kind="stable")
        edges = np.flatnonzero(np.diff(code[order])) + 1
        groups = np.split(chosen[order], edges)
        return [np.sort(g) for g in groups if len(g) >= threshold]


class Sample:
    """A uniform sample of the stored cells (reservoir sampling, seeded apart from the
    tables' stream): the store keeps sketches, so the near-copies' units come from here."""

    def __init__(self, size: int, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.size = size
        self.seen = 0
        self.cells: list[tuple[int, int, np.ndarray]] = []  # (job, row, digests)

    def offer(self, job: int, groups: list[np.ndarray], digests: np.ndarray) -> None:
        """Consider a stored table's groups (unit positions into `digests`)."""
        draws = self.rng.integers(0, np.arange(self.seen + 1, self.seen + len(groups) + 1))
        for row, (group, slot) in enumerate(zip(groups, draws, strict=True)):
            if len(self.cells) < self.size:
                self.cells.append((job, row, digests[group]))
            elif slot < self.size:
                self.cells[slot] = (job, row, digests[group])
        self.seen += len(groups)

    def save(self, path: Path) -> None:
        jobs, rows, digests = zip(*self.cells, strict=True)
        sizes = [len(d) for d in digests]
        np.savez(path, jobs=jobs, rows=rows, sizes=sizes, digests=np.concatenate(digests))


def load_sample(path: Path) -> list[tuple[int, int, np.ndarray]]:
    """The sample `Sample.save` wrote: (job, row, sorted unit digests) per cell."""
    with np.load(path) as saved:
        parts = np.split(saved["digests"], np.cumsum(saved["sizes"])[:-1])
        return list(zip(saved["jobs"].tolist(), saved["rows"].tolist(), parts, strict=True))


def timed(step: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = step()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def build(
    sessions: Callable[[], Any], domain: Domain, target: int, threshold: int, sample: Sample
) -> int:
    """Fill the store with analysts' tables until `target` cells; returns tables made."""
    stored, job = 0, 0
    while stored < target:
        with sessions() as session, session.begin():  # 50 jobs per commit: fewer fsyncs
            for _ in range(50):
                job += 1
                groups = domain.table(threshold)[: target - stored]
                sketches = [sketch_of(domain.digests[g]) for g in groups]
                table = TablePopulations(f"t{job}.csv", list(range(len(groups))), sketches)
                stored += keep(session, job, job % 50, [table], threshold)
                sample.offer(job, groups, domain.digests)
                if stored >= target:
                    break
        print(f"  … {stored:,} cells in {job:,} tables", end="\r", flush=True)
    print()
    return job


def near_copies(sessions: Callable[[], Any], sampled: list[tuple[int, int, np.ndarray]]) -> Any:
    """Each sampled cell less its lowest unit, after checking the store still holds
    that very cell (a side file from another store would make the figures wrong)."""
    with sessions() as session:
        for job, row, digests in sampled:
            query = select(CellPopulation.sketch).where(
                CellPopulation.job_id == job, CellPopulation.row == row
            )
            kept = sketch_from_bytes(session.scalars(query).one())
            assert kept is not None and kept.units == len(digests), (job, row)
            assert np.array_equal(kept.lowest, digests[: len(kept.lowest)]), (job, row)
    near = [sketch_of(digests[1:]) for _, _, digests in sampled]
    return TablePopulations("near.csv", list(range(len(near))), near)


def new_table(
    domain: Domain, threshold: int, size: int, near: TablePopulations
) -> list[TablePopulations]:
    """About `size` cells: a street × size breakdown, and the near-copies. Drawn from
    its own random stream, so a reused store meets the same new table."""
    domain.rng = np.random.default_rng(domain.seed + 1)
    groups = domain.table(threshold, keys=["street", "size"])
    while len(groups) < size - NEAR:
        groups += domain.table(threshold, keys=["street", "size"])
    groups = groups[: size - NEAR]
    sketches = [sketch_of(domain.digests[g]) for g in groups]
    return [TablePopulations("result.csv", list(range(len(groups))), sketches), near]


def size_index_baseline(
    sessions: Callable[[], Any], probes: list[Sketch], threshold: int
) -> dict[str, Any]:
    """The size index alone: candidates are every cell of a close size, each read and
    compared by its sketch. Returns per-probe seconds, and per probe the close cells
    it found and the candidates whose sketch did not read (the gate withholds those)."""
    started = time.perf_counter()
    with sessions() as session:
        query = select(CellPopulation.units, CellPopulation.id)
        rows = np.array([tuple(r) for r in session.execute(query)], dtype=np.int64)
    rows = rows[np.argsort(rows[:, 0])]
    load = time.perf_counter() - started
    candidates, fetch, compare = 0, 0.0, 0.0
    close: list[set[int]] = []
    unread: list[set[int]] = []
    with sessions() as session:
        for probe in probes:
            first, last = np.searchsorted(
                rows[:, 0], [probe.units - threshold + 1, probe.units + threshold]
            )
            ids = rows[first:last, 1].tolist()
            candidates += len(ids)
            started = time.perf_counter()
            blobs = []
            for start in range(0, len(ids), 2000):
                chunk = ids[start : start + 2000]
                query = select(CellPopulation.id, CellPopulation.sketch)
                blobs += list(session.execute(query.where(CellPopulation.id.in_(chunk))))
            fetch += time.perf_counter() - started
            started = time.perf_counter()
            found, failed = set(), set()
            for cell_id, blob in blobs:
                other = sketch_from_bytes(blob)
                if other is None:
                    failed.add(cell_id)
                elif closeness(probe, other, threshold) is not None:
                    found.add(cell_id)
            compare += time.perf_counter() - started
            close.append(found)
            unread.append(failed)
    count = len(probes)
    return {
        "load": load,
        "candidates": candidates / count,
        "fetch": fetch / count,
        "compare": compare / count,
        "close": close,
        "unread": unread,
    }


def unreadable(sessions: Callable[[], Any], ids: set[int]) -> set[int]:
    """The stored cells among `ids` whose sketch does not read back."""
    with sessions() as session:
        query = select(CellPopulation.id, CellPopulation.sketch)
        found = session.execute(query.where(CellPopulation.id.in_(sorted(ids))))
        return {cell_id for cell_id, blob in found if sketch_from_bytes(blob) is None}


def stored_close(closes: list[Close], row: int) -> set[int]:
    """The stored cells `check_new` found close to the breakdown's `row`."""
    return {
        c.other.id
        for c in closes
        if c.probe.file == "result.csv" and c.probe.row == row and isinstance(c.other, Stored)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=200_000)
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--threshold", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=None, help="where the SQLite file goes")
    parser.add_argument("--reuse", action="store_true", help="keep a store --dir already has")
    args = parser.parse_args()
    folder = Path(args.dir or tempfile.mkdtemp(prefix="sluice-populations-"))
    folder.mkdir(parents=True, exist_ok=True)
    database, near_file = folder / "populations.db", folder / "near.npz"
    reuse = args.reuse and database.exists() and near_file.exists()
    if not reuse:
        database.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{database}")
    Base.metadata.create_all(engine)
    sessions = session_factory(engine)
    domain = Domain(args.units, args.seed)

    started = time.perf_counter()
    tables = 0
    if not reuse:
        sample = Sample(NEAR, args.seed + 2)
        tables = build(sessions, domain, args.cells, args.threshold, sample)
        sample.save(near_file)
    built = time.perf_counter() - started
    with sessions() as session, session.begin():
        forget(session, NEW_JOB)  # a reused store holds the last run's new table
    with sessions() as session:
        cells = session.scalar(select(func.count()).select_from(CellPopulation)) or 0
        prefixes = session.scalar(select(func.count()).select_from(PopulationPrefix)) or 0
        sizes = np.array(list(session.scalars(select(CellPopulation.units))))
    near = near_copies(sessions, load_sample(near_file))
    table = new_table(domain, args.threshold, args.new, near)

    def check() -> Any:
        with sessions() as session:
            return check_new(session, NEW_JOB, table, args.threshold)

    gate, result = timed(check, args.repeat)
    near_found = {c.probe.row for c in result.closes if c.probe.file == "near.csv"}
    breakdown = table[0].sketches
    rng = np.random.default_rng(args.seed)
    sample_rows = rng.choice(len(breakdown), min(args.sample, len(breakdown)), False).tolist()
    baseline = size_index_baseline(sessions, [breakdown[i] for i in sample_rows], args.threshold)
    agrees = all(
        found == stored_close(result.closes, row) - failed
        for row, found, failed in zip(
            sample_rows, baseline["close"], baseline["unread"], strict=True
        )
    )
    undecoded = [c for c in result.closes if c.difference is None]
    unread = unreadable(sessions, {c.other.id for c in undecoded if isinstance(c.other, Stored)})
    against_unread = sum(isinstance(c.other, Stored) and c.other.id in unread for c in undecoded)
    probes_total = sum(len(t.rows) for t in table)
    started = time.perf_counter()
    with sessions() as session, session.begin():
        keep(session, NEW_JOB, 1, table, args.threshold)
    kept = time.perf_counter() - started

    megabytes = database.stat().st_size / 1e6
    python = sys.version.split()[0]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU(s), Python {python}, load {load}")
    print(
        f"store: {cells:,} cells from {tables or 'reused'} tables over "
        f"{len(domain.digests):,} units; "
        f"sizes p50 {int(np.median(sizes))}, p90 {int(np.quantile(sizes, 0.9))}, "
        f"max {sizes.max():,}; {prefixes:,} index rows; {megabytes:,.0f} MB; built in {built:.0f} s"
    )
    print(
        f"new table: {probes_total:,} cells (sizes p50 "
        f"{int(np.median([s.units for s in breakdown]))}), threshold {args.threshold}"
    )
    print(
        f"check_new (prefix + size index, sketches)    {gate:8.3f} s  median of {args.repeat}; "
        f"compared {result.compared:,} stored cells, found {len(result.closes)} close pair(s) "
        f"({len(undecoded)} undecoded, {against_unread} of them against a stored sketch that "
        f"does not read), {len(near_found)}/{NEAR} near-copies"
    )
    per = baseline["candidates"]
    print(
        f"baseline: size index alone, load (id, size)   {baseline['load']:8.3f} s  once per check"
    )
    total = (baseline["fetch"] + baseline["compare"]) * probes_total
    print(
        f"baseline: size index alone, sketches         {total:8.1f} s"
        f"  extrapolated from {len(sample_rows)} cells; {per:,.0f} candidates per cell; "
        f"reading {baseline['fetch']:.2f} s + comparing {baseline['compare']:.2f} s per cell"
    )
    close = sum(len(found) for found in baseline["close"])
    failed = sum(len(found) for found in baseline["unread"])
    verdict = "the same" if agrees else "NOT the same"
    print(
        f"baseline on those cells: {close} close pair(s), {verdict} as check_new's; "
        f"{failed} candidate sketch(es) did not read"
    )
    print(f"keep: storing the new table after review      {kept:8.3f} s")
    verdict = "meets" if gate <= 1.5 else "MISSES"
    print(f"target: a 1,000-cell table against 1,000,000 cells in about a second: {verdict}")


if __name__ == "__main__":
    main()
