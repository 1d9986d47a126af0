"""Benchmark: Spark's top-n lists (the core's `__lowest` and top contributions) for one
group of many units, ranked first (`policies.core_sql.for_engine`) against the form
that collects the group's values whole and sorts them (what Spark ran before).

    .venv/bin/python bench/bench_spark_top_n.py [--rows 20000000] [--memory 1g]

Writes `--rows` rows of one group (a random BIGINT digest and a measure per row) to
Parquet, then runs `MIN(d, 64)` and `MAX(v, 2)` in Spark `local[2]` with the driver
given `--memory`, each form in a fresh JVM, and checks both lists against DuckDB's own
`MIN(d, 64)` / `MAX(v, 2)` on the same file (the baseline, timed too). Prints seconds
and whether each form finished; never part of the test pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import sqlglot

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from policies.core_sql import for_engine  # noqa: E402

QUERY = "SELECT MIN(d, 64) AS low, MAX(v, 2) AS top FROM rows"
WHOLE = (  # the form before: every value of the group in one list, then sorted
    "SELECT SLICE(ARRAY_SORT(COLLECT_LIST(d)), 1, 64) AS low, "
    "SLICE(SORT_ARRAY(COLLECT_LIST(v), false), 1, 2) AS top FROM rows"
)
RUN = """
import json, sys, time
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[2]").config("spark.driver.memory", sys.argv[3])
         .config("spark.sql.shuffle.partitions", "8").config("spark.ui.enabled", "false")
         .getOrCreate())
spark.read.parquet(sys.argv[1]).createOrReplaceTempView("rows")
started = time.perf_counter()
row = spark.sql(sys.argv[2]).collect()[0]
print(json.dumps({"seconds": time.perf_counter() - started,
                  "low": [int(x) for x in row["low"]], "top": [float(x) for x in row["top"]]}))
"""


def spark_form() -> str:
    tree = sqlglot.parse_one(QUERY, read="duckdb")
    return for_engine(tree, "spark").sql("spark")


def run_in_spark(parquet: Path, sql: str, memory: str) -> dict[str, object] | str:
    """One query in a fresh JVM: its result, or why it did not finish."""
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(parquet), sql, memory],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )
    if done.returncode != 0:  # the JVM's own words: an OutOfMemoryError above all
        lines = done.stderr.splitlines()
        cause = [line for line in lines if "OutOfMemoryError" in line]
        cause = cause or [line for line in lines if "Exception:" in line or "Error:" in line]
        return (cause[0] if cause else done.stderr[-300:]).strip()[:200]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--memory", default="1g", help="the Spark driver's memory")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sluice-spark-top-n-"))
    parquet = folder / "rows.parquet"
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT (hash(i) >> 1)::BIGINT - (1::BIGINT << 62) AS d, (i % 9973)::DOUBLE AS v "
        f"FROM range({args.rows}) r(i)) TO '{parquet}' (FORMAT parquet)"
    )
    started = time.perf_counter()
    [(low, top)] = con.execute(QUERY.replace("rows", f"'{parquet}'")).fetchall()
    raw = time.perf_counter() - started
    print(f"rows: {args.rows:,} in one group; Spark local[2], driver memory {args.memory}")
    print(f"  baseline: DuckDB MIN(d, 64), MAX(v, 2)       {raw:7.2f} s")
    for label, sql in (("ranked first (now)", spark_form()), ("collected whole (before)", WHOLE)):
        found = run_in_spark(parquet, sql, args.memory)
        if isinstance(found, str):
            print(f"  Spark, {label:26s} did not finish: {found}")
            continue
        same = found["low"] == list(low) and found["top"] == list(top)
        print(
            f"  Spark, {label:26s} {found['seconds']:7.2f} s, "
            f"{'the same lists as DuckDB' if same else 'DIFFERENT lists from DuckDB'}"
        )


if __name__ == "__main__":
    main()
