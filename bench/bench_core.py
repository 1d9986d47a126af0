"""Benchmark: the private core's shapes against the operator's own SQL (issue 18).

    .venv/bin/python bench/bench_core.py [--rows 1000000,10000000] [--repeat 1]
                                         [--no-sandbox] [--skip-before-above 10000000]
                                         [--shapes raw,before,top-n,rows=units,...]

The meter register of bench/bench_meter.py (one row per meter) and its query
`SELECT district, COUNT(*), SUM(kwh), AVG(kwh) ... GROUP BY district` at L2, run as:

  raw          the operator's SQL as written (no bounding, no companions);
  before       the core as main rewrote it before this change: per-unit bounding,
               then a ROW_NUMBER() ranking per measure (bench/meter_core_before.sql);
  top-n        today's core for a dataset without the one-row fact: per-unit
               bounding, figures computed once, top contributions by MAX(x, 2);
  rows=units   the core when ingest proved one row per meter: no per-unit stage, each
               unit hashed in SQL into its BIGINT digest (policies/core_sql.py
               `unit_digest`: a dataset ingested before unit digests);
  stored-digests  rows=units reading the digests ingest stored (catalog/unit_digests.py)
               instead of hashing, each digest's check value computed in SQL: a dataset
               ingested before check values were stored;
  stored       today's core on a dataset ingested now: stored-digests reading the
               check values ingest stored too. All of them emit
               each group's population as a sketch of fixed size
               (core/population_sketch.py, gate/sketches.py): `__lowest`, its 64
               lowest digests, and `__sketch`, the cells of an invertible Bloom
               lookup table, built in a CTE `__sketches` joined back to the groups;
  no-digests   diagnostic, in process only: stored without its population companions
               (the `__sketches` CTE and its join, `__lowest`, `__sketch`, and the
               digest column they read), cut from stored's SQL tree, to show what
               they cost; never a core a job runs.

Each shape runs in this process (DuckDB, all threads) and through the sandboxed path
(bubblewrap, default `Limits()`, as a job's core runs), and every time is divided by
the raw query's in-process time taken in the same run, so the ratio holds under load.
Prints figures and the load average; never part of the test pass/fail.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import duckdb  # noqa: E402
from bench_meter import QUERY, meter_parquet, meter_schema, sandboxed  # noqa: E402
from sqlglot import exp, parse_one  # noqa: E402

from core.levels import Level  # noqa: E402
from policies import LicenseScope, check_query  # noqa: E402
from sandbox.limits import Limits  # noqa: E402

BEFORE = ROOT / "bench" / "meter_core_before.sql"


def shapes() -> dict[str, str]:
    """Each shape's SQL over a table named meter_readings."""
    scope = LicenseScope(datasets=("meter_readings",), max_level=Level.L2)
    schema = meter_schema()
    found = {"raw": QUERY, "before": BEFORE.read_text("utf-8")}
    for name, proven, stored, checks in (
        ("top-n", False, False, False),
        ("rows=units", True, False, False),
        ("stored-digests", True, True, False),
        ("stored", True, True, True),
    ):
        facts = dataclasses.replace(
            schema, one_row_per_unit=proven, unit_digests=stored, unit_checks=checks
        )
        schemas = {"meter_readings": facts}
        decision = check_query(QUERY, schemas, scope, 1.0)
        assert decision.sql and decision.rows_are_units == (["meter_readings"] if proven else [])
        found[name] = decision.sql
    found["no-digests"] = without_populations(found["stored"])
    return found


POPULATION = ("__lowest", "__sketch")  # the outer columns of a group's population
SKETCHES = "__sketches"  # the CTE that builds the sketches, joined to __groups
STORED = {"__unit_digest", "__unit_check"}  # the stored digest and check columns they read


def without_populations(stored: str) -> str:
    """The stored core less what only the populations need, so that the two differ by
    their cost alone: the outer `__lowest` and `__sketch`, the `__groups` figure
    `__lowest` reads (its MIN(digest, 64)), the `__sketches` CTE and its join, and the
    digest and check columns of `__per_unit`. `__n` (a count) stays, as it did when this shape
    replaced the digest lists by NULL."""
    tree = parse_one(stored, read="duckdb")
    assert isinstance(tree, exp.Select)
    outer = {p.alias_or_name: p for p in tree.expressions}
    figure = outer["__lowest"].this
    assert isinstance(figure, exp.Column), figure
    for name in POPULATION:
        outer[name].pop()
    for join in tree.args.get("joins") or []:
        if join.this.name == SKETCHES:
            join.pop()
    ctes = {cte.alias: cte for cte in tree.ctes}
    ctes[SKETCHES].pop()
    groups, per_unit = ctes["__groups"].this, ctes["__per_unit"].this
    dropped = [p for p in groups.expressions if p.alias_or_name == figure.name]
    dropped += [p for p in per_unit.expressions if p.alias_or_name in STORED]
    assert len(dropped) == 1 + len(STORED), dropped
    for projection in dropped:
        projection.pop()
    cut = tree.sql("duckdb")
    assert_cut(stored, cut)
    return cut


def assert_cut(stored: str, cut: str) -> None:
    """The cut core names no part of a population any more, and keeps every other
    output column of the stored core in its order."""
    tree = parse_one(cut, read="duckdb")
    names = {i.name for i in tree.find_all(exp.Identifier)}
    assert not names & {*POPULATION, SKETCHES, *STORED}, names & {*POPULATION, SKETCHES, *STORED}
    assert not [m for m in tree.find_all(exp.Min) if m.args.get("count")], "MIN(x, 64) left"
    before = [p.alias_or_name for p in parse_one(stored, read="duckdb").expressions]
    after = [p.alias_or_name for p in tree.expressions]
    assert after == [n for n in before if n not in POPULATION], (before, after)


def best(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def meter_connection(data: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in which the shapes' `meter_readings` is the Parquet `data`."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"CREATE VIEW meter_readings AS SELECT * FROM read_parquet('{data}')")
    return con


def in_process(data: Path, sql: str, repeat: int) -> float:
    con = meter_connection(data)
    return best(lambda: con.execute(sql).fetchall(), repeat)


def boxed(data: Path, sql: str, folder: Path, repeat: int) -> tuple[float, str]:
    outcome = ["ok"]

    def once() -> None:
        work = Path(tempfile.mkdtemp(prefix="run-", dir=folder))
        result = sandboxed(data, sql, work, Limits())
        if not result.ok:
            outcome[0] = f"FAILED {result.failure}"

    return best(once, repeat), outcome[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="1000000,10000000")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--raw-repeat", type=int, default=5, help="the baseline: best of N")
    parser.add_argument("--no-sandbox", action="store_true")
    parser.add_argument("--skip-before-above", type=int, default=10_000_000)
    parser.add_argument(
        "--shapes", default="raw,before,top-n,rows=units,stored-digests,stored,no-digests"
    )
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; load average at start: {Path('/proc/loadavg').read_text()}")
    folder = Path(tempfile.mkdtemp(prefix="sluice-bench-core-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # even after an error
    sqls = shapes()
    for rows in [int(r) for r in args.rows.split(",")]:
        data = meter_parquet(folder / f"meters-{rows}.parquet", rows)
        print(f"\n{rows:,} meters ({data.stat().st_size / 1e6:.0f} MB Parquet)")
        raw = in_process(data, sqls["raw"], args.raw_repeat)
        print(f"  {'shape':<14} {'in process':>11} {'ratio':>7} {'sandboxed':>10} {'ratio':>7}")
        for name, sql in sqls.items():
            if name != "raw" and name not in args.shapes.split(","):
                continue
            if name == "before" and rows > args.skip_before_above:
                print(f"  {name:<14} skipped (above --skip-before-above)")
                continue
            local = raw if name == "raw" else in_process(data, sql, args.repeat)
            line = f"  {name:<14} {local:10.2f}s {local / raw:6.1f}x"
            if not args.no_sandbox and name != "no-digests":
                seconds, state = boxed(data, sql, folder, args.repeat)
                line += f" {seconds:9.2f}s {seconds / raw:6.1f}x  {state}"
            print(line, flush=True)
        print(f"  load average after: {Path('/proc/loadavg').read_text().strip()}")
        data.unlink()


if __name__ == "__main__":
    main()
