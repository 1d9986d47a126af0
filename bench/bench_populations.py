"""Benchmark: the differencing check of a new table against 1,000,000 stored cells.

    .venv/bin/python bench/bench_populations.py --dir /tmp/pop   # --cells 1000000 --units 200000
    .venv/bin/python bench/bench_populations.py --dir /tmp/pop --reuse  # time again, no rebuild

Builds a differencing store (gate/populations.py) in a SQLite file: a domain of
`--units` privacy units, each with five categorical attributes of skewed frequencies
(12 districts, 20 industries, 6 size classes, 40 founding years, 150 streets) and a
measure; then tables as an analyst asks for them, a filter (none, one attribute
value, or a measure quantile) and a breakdown by one or two attributes, each kept as
a job through the store's own insert path (`keep_bitmaps`, with the units numbered
once up front rather than per table), until `--cells` cells of at least
`--threshold` units are stored. Cells are nested and overlapping as real releases are.

Then times checking a new table of about `--new` cells (a street × size breakdown,
plus ten near-copies of stored cells, one unit left out of each, as an attacker
would ask): `check_new` as the gate runs it, median of `--repeat` runs in a fresh
session each. Beside it, in the same run and on the same store:
  * the size index alone: every stored (id, size) loaded once, a sorted array of
    sizes, every cell of a close size fetched and compared with pyroaring;
  * the same candidates compared as plain Python sets;
both timed on a sample of `--sample` new cells and extrapolated to the whole table
(they are linear in it), with the candidates they had to compare.
Prints figures; never part of the test pass/fail.
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
from pyroaring import BitMap64
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import service.tables  # noqa: E402, F401  (every table on the metadata)
from core.db import Base  # noqa: E402
from gate.differencing import TablePopulations  # noqa: E402
from gate.populations import (  # noqa: E402
    check_new,
    forget,
    keep,
    keep_bitmaps,
    number_units,
)
from gate.records import CellPopulation, PopulationPrefix  # noqa: E402
from service.db import make_engine, session_factory  # noqa: E402

NEW_JOB = 10**9
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


def timed(step: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = step()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def build(sessions: Callable[[], Any], domain: Domain, target: int, threshold: int) -> int:
    """Fill the store with analysts' tables until `target` cells; returns tables made."""
    with sessions() as session, session.begin():
        numbers = number_units(session, domain.digests)
    stored, job = 0, 0
    while stored < target:
        with sessions() as session, session.begin():  # 50 jobs per commit: fewer fsyncs
            for _ in range(50):
                job += 1
                groups = domain.table(threshold)[: target - stored]
                cells = [(f"t{job}.csv", r, BitMap64(numbers[g])) for r, g in enumerate(groups)]
                stored += keep_bitmaps(session, job, job % 50, cells, threshold)
                if stored >= target:
                    break
        print(f"  … {stored:,} cells in {job:,} tables", end="\r", flush=True)
    print()
    return job


def new_table(
    sessions: Callable[[], Any], domain: Domain, threshold: int, size: int
) -> list[TablePopulations]:
    """About `size` cells: a street × size breakdown, and ten stored cells less one unit.
    Drawn from its own random stream, so a reused store meets the same new table."""
    domain.rng = np.random.default_rng(domain.seed + 1)
    groups = domain.table(threshold, keys=["street", "size"])
    while len(groups) < size - 10:
        groups += domain.table(threshold, keys=["street", "size"])
    groups = groups[: size - 10]
    breakdown = TablePopulations(
        "result.csv", list(range(len(groups))), [domain.digests[g] for g in groups]
    )
    with sessions() as session:
        count = session.scalar(select(func.count()).select_from(CellPopulation)) or 0
        picks = domain.rng.choice(np.arange(1, count + 1), 10, replace=False).tolist()
        stored = session.scalars(select(CellPopulation).where(CellPopulation.id.in_(picks)))
        bitmaps = [BitMap64.deserialize(c.bitmap) for c in stored]
    # the units were numbered in one go, in digest order (domain.digests is sorted), from 1
    near = [domain.digests[np.array(list(b)[1:], dtype=np.int64) - 1] for b in bitmaps]
    copies = TablePopulations("near.csv", list(range(len(near))), near)
    return [breakdown, copies]


def size_index_baseline(
    sessions: Callable[[], Any], probes: list[BitMap64], threshold: int
) -> dict[str, float]:
    """The size index alone: candidates are every cell of a close size."""
    started = time.perf_counter()
    with sessions() as session:
        rows = np.array(
            [tuple(r) for r in session.execute(select(CellPopulation.units, CellPopulation.id))],
            dtype=np.int64,
        )
    rows = rows[np.argsort(rows[:, 0])]
    load = time.perf_counter() - started
    candidates, roaring, sets = 0, 0.0, 0.0
    with sessions() as session:
        for probe in probes:
            first, last = np.searchsorted(
                rows[:, 0], [len(probe) - threshold + 1, len(probe) + threshold]
            )
            ids = rows[first:last, 1].tolist()
            candidates += len(ids)
            started = time.perf_counter()
            blobs = []
            for start in range(0, len(ids), 2000):
                chunk = ids[start : start + 2000]
                query = select(CellPopulation.bitmap).where(CellPopulation.id.in_(chunk))
                blobs += list(session.scalars(query))
            fetched = time.perf_counter() - started
            started = time.perf_counter()
            for blob in blobs:
                probe.symmetric_difference_cardinality(BitMap64.deserialize(blob))
            roaring += fetched + time.perf_counter() - started
            started = time.perf_counter()
            mine = set(probe)
            for blob in blobs:
                len(mine ^ set(BitMap64.deserialize(blob)))
            sets += fetched + time.perf_counter() - started
    return {
        "load": load,
        "candidates": candidates / len(probes),
        "roaring": roaring / len(probes),
        "sets": sets / len(probes),
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
    database = folder / "populations.db"
    reuse = args.reuse and database.exists()
    if not reuse:
        database.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{database}")
    Base.metadata.create_all(engine)
    sessions = session_factory(engine)
    domain = Domain(args.units, args.seed)

    started = time.perf_counter()
    tables = 0 if reuse else build(sessions, domain, args.cells, args.threshold)
    built = time.perf_counter() - started
    with sessions() as session, session.begin():
        forget(session, NEW_JOB)  # a reused store holds the last run's new table
    with sessions() as session:
        cells = session.scalar(select(func.count()).select_from(CellPopulation)) or 0
        prefixes = session.scalar(select(func.count()).select_from(PopulationPrefix)) or 0
        sizes = np.array(list(session.scalars(select(CellPopulation.units))))
    table = new_table(sessions, domain, args.threshold, args.new)

    def check() -> Any:
        with sessions() as session:
            return check_new(session, NEW_JOB, table, args.threshold)

    gate, result = timed(check, args.repeat)
    near_found = {c.probe.row for c in result.closes if c.probe.file == "near.csv"}
    with sessions() as session:
        numbers = number_units(session, np.unique(np.concatenate(table[0].digests)))
        everything = np.unique(np.concatenate(table[0].digests))
    rng = np.random.default_rng(args.seed)
    sample = rng.choice(len(table[0].digests), min(args.sample, len(table[0].digests)), False)
    probes = [BitMap64(numbers[np.searchsorted(everything, table[0].digests[i])]) for i in sample]
    baseline = size_index_baseline(sessions, probes, args.threshold)
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
        f"{int(np.median([len(d) for d in table[0].digests]))}), threshold {args.threshold}"
    )
    print(
        f"check_new (prefix + size index, pyroaring)   {gate:8.3f} s  median of {args.repeat}; "
        f"compared {result.compared:,} stored cells, found {len(result.closes)} close pair(s), "
        f"{len(near_found)}/10 near-copies"
    )
    per = baseline["candidates"]
    print(
        f"baseline: size index alone, load (id, size)   {baseline['load']:8.3f} s  once per check"
    )
    print(
        f"baseline: size index alone, pyroaring        {baseline['roaring'] * probes_total:8.1f} s"
        f"  extrapolated from {len(probes)} cells; {per:,.0f} candidates per cell"
    )
    print(
        f"baseline: size index alone, Python sets      {baseline['sets'] * probes_total:8.1f} s"
        "  extrapolated likewise"
    )
    print(f"keep: storing the new table after review      {kept:8.3f} s")
    verdict = "meets" if gate <= 1.5 else "MISSES"
    print(f"target: a 1,000-cell table against 1,000,000 cells in about a second: {verdict}")


if __name__ == "__main__":
    main()
