"""Speed of the policy decision: check + rewrite over the legitimate corpus.

Prints p50/p99 of `policies.engine.check_query` per query, beside two baselines
measured in the same run over the same queries: sqlglot parse + generate alone
(the floor for any AST-based checker) and DuckDB's EXPLAIN (what planning the
query costs anyway); and `policies.complexity.bounded_check`, the same decision in a
forked process under the domain's budget, as submissions run it. Figures, not a
test; targets: p50 <= 5 ms, p99 <= 20 ms.

    .venv/bin/python bench/bench_policy.py [--repeat 30]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import sqlglot
import yaml

from catalog.schema import DatasetSchema, load_schema
from catalog.storage import duckdb_types
from core.errors import InvalidInput
from core.levels import Level
from policies.complexity import bounded_check
from policies.engine import LicenseScope, check_query

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "catalog" / "demo"
LEGIT = ROOT / "tests" / "policies" / "corpus" / "legit.yaml"


def schemas() -> dict[str, DatasetSchema]:
    found = [
        load_schema(DEMO / "enterprise_utilities.yaml"),
        load_schema(DEMO / "social_security.yaml"),
    ]
    return {s.dataset: s for s in found}


def empty_tables(found: dict[str, DatasetSchema]) -> duckdb.DuckDBPyConnection:
    """Empty tables with the stored columns, so EXPLAIN plans without reading data."""
    con = duckdb.connect()
    for name, schema in found.items():
        columns = ", ".join(f"{c} {t}" for c, t in duckdb_types(schema).items())
        con.execute(f"CREATE TABLE {name} ({columns})")
    return con


def timed(step: Callable[[str], object], queries: list[str], repeat: int) -> list[float]:
    """Milliseconds per call, every query `repeat` times, interleaved."""
    for sql in queries:  # warm caches (sqlglot's, DuckDB's) once
        step(sql)
    samples = []
    for _ in range(repeat):
        for sql in queries:
            start = time.perf_counter()
            step(sql)
            samples.append((time.perf_counter() - start) * 1000)
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="passes over the corpus")
    args = parser.parse_args()
    found = schemas()
    scope = LicenseScope(tuple(found), Level.L3)
    queries = [c["sql"] for c in yaml.safe_load(LEGIT.read_text("utf-8"))["legit"]]
    con = empty_tables(found)
    decisions: dict[str, int] = {}

    def check(sql: str) -> None:
        try:
            decision = check_query(sql, found, scope, 1.0).decision
        except InvalidInput:
            decision = "invalid"
        decisions[decision] = decisions.get(decision, 0) + 1

    def bounded(sql: str) -> None:
        try:
            bounded_check(sql, found, scope, 1.0)
        except InvalidInput:
            pass

    steps: dict[str, Callable[[str], object]] = {
        "check_query (check + rewrite)": check,
        "bounded_check (forked, 2 s budget)": bounded,
        "baseline: sqlglot parse + generate": lambda sql: sqlglot.parse_one(
            sql, dialect="duckdb"
        ).sql("duckdb"),
        "baseline: DuckDB EXPLAIN": lambda sql: con.execute(f"EXPLAIN {sql}").fetchall(),
    }
    print(f"policy bench: {len(queries)} legit queries x {args.repeat} passes")
    print(
        f"python {platform.python_version()}, sqlglot {sqlglot.__version__}, "
        f"duckdb {duckdb.__version__}, {platform.machine()}"
    )
    print(f"{'step':38s} {'p50 ms':>8s} {'p99 ms':>8s} {'mean ms':>8s} {'max ms':>8s}")
    for name, step in steps.items():
        samples = timed(step, queries, args.repeat)
        print(
            f"{name:38s} {percentile(samples, 50):8.2f} {percentile(samples, 99):8.2f} "
            f"{statistics.fmean(samples):8.2f} {max(samples):8.2f}"
        )
    shares = ", ".join(f"{k} {v // (args.repeat + 1)}" for k, v in sorted(decisions.items()))
    print(f"decisions per pass: {shares}; targets p50 <= 5 ms, p99 <= 20 ms")


if __name__ == "__main__":
    main()
