"""Benchmark: ingest speed and peak memory against the file size (issue 18).

    .venv/bin/python bench/bench_ingest.py [--rows 1000000,10000000]

For each size, a CSV of that many meters (meter_id pseudonymized, district, kwh)
is written, then in a fresh child process each: (a) `catalog.ingest` into a new
domain (read, type-check, desensitize, identifier index, Parquet), (b) the
baseline: raw DuckDB `COPY` of the same CSV to Parquet. Prints rows/s and the
child's peak RSS and CPU time (user + system: on a shared host, wall time mostly
measures waiting for a core), and the load average before and after each size; the
ratio is taken in the same run. Never part of the tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

duckdb.execute("SET enable_progress_bar = false")

SCHEMA = """dataset: meter_readings
privacy_unit: meter_id
columns:
  - {name: meter_id, type: string, level: L3, role: identifier, desensitize: pseudonymize}
  - {name: district, type: string, level: L1, role: dimension}
  - {name: kwh, type: double, level: L2, role: measure, bounds: [0, 20000]}
"""

INGEST = """
import sys
from pathlib import Path
from catalog import ingest
from catalog.schema import load_schema
from service.domain import init_domain
from service.settings import Settings
from tests.conftest import AUTHORITY
home, csv, schema = (Path(a) for a in sys.argv[1:4])
domain = init_domain(Settings(home=home, database_url=None))[0]
with domain.transaction() as session:
    ingest(session, domain.home, csv, load_schema(schema), AUTHORITY)
"""

COPY = """
import sys, duckdb
duckdb.execute("SET enable_progress_bar = false")
duckdb.sql(f"COPY (SELECT * FROM read_csv('{sys.argv[1]}')) TO '{sys.argv[2]}' (FORMAT parquet)")
"""


def child(code: str, *args: str) -> tuple[float, float, float]:
    """Seconds, peak RSS (MB) and CPU seconds of one child process running `code`."""
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"child failed with {proc.returncode}")
    return seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def measure(folder: Path, rows: int) -> None:
    """One size: write its CSV, COPY it with DuckDB, ingest it, print the line."""
    csv = folder / f"meters-{rows}.csv"
    duckdb.sql(
        f"COPY (SELECT md5(i::VARCHAR) AS meter_id, 'district_' || (i % 10) AS district,"
        f" (i * 7919 % 20000) * 1.0 AS kwh FROM range({rows}) t(i)) TO '{csv}' (HEADER)"
    )
    load = os.getloadavg()[0]
    copied = folder / f"copy-{rows}.parquet"
    copy_s, copy_mb, copy_cpu = child(COPY, str(csv), str(copied))
    copied.unlink()
    home = folder / f"home-{rows}"
    ingest_s, ingest_mb, ingest_cpu = child(
        INGEST, str(home), str(csv), str(folder / "schema.yaml")
    )
    print(
        f"{rows:>12,} {ingest_s:>9.1f} {rows / ingest_s:>11,.0f} {ingest_cpu:>7.1f} "
        f"{ingest_mb:>7.0f} | {copy_s:>7.1f} {rows / copy_s:>11,.0f} {copy_cpu:>7.1f} "
        f"{copy_mb:>7.0f} | {ingest_s / copy_s:4.1f}x | {load:.1f} → {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    csv.unlink()
    shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="1000000,10000000")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sluice-bench-ingest-"))
    (folder / "schema.yaml").write_text(SCHEMA, "utf-8")
    print(f"{os.cpu_count()} cores; rows/s, the child's CPU seconds and peak RSS")
    print(
        f"{'rows':>12} {'ingest s':>9} {'rows/s':>11} {'CPU s':>7} {'RSS MB':>7} | "
        f"{'COPY s':>7} {'rows/s':>11} {'CPU s':>7} {'RSS MB':>7} | ratio | load"
    )
    try:
        for rows in (int(r) for r in args.rows.split(",")):
            measure(folder, rows)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # a 100M-row CSV is 5 GB


if __name__ == "__main__":
    main()
