"""Benchmark: past one machine. Jobs per second through 1, 2 and 4 `sluice worker`
processes on PostgreSQL, and one 10,000,000-row aggregate on three engines.

    .venv/bin/python bench/bench_scale.py [--jobs 24] [--rows 10000000] [--workers 1,2,4]

Throughput: a throwaway PostgreSQL cluster (tests/postgres.py), a domain with the
demo data (3,000 enterprises), N worker processes started and idle, then `--jobs`
small SQL jobs queued in one transaction; the clock stops when every job has
reached a resting state (awaiting review, blocked or failed). Each job runs the
whole path: policy decision at submit, lease, bubblewrap sandbox, noise, gate, audit.
Large aggregate: one Parquet file of `--rows` rows, aggregated by district with
COUNT, SUM and AVG (a) by raw DuckDB in this process, (b) through the sandboxed
path (the runtime in bubblewrap, as a job runs), (c) on Spark local[2] through
sandbox.spark_engine, as a Spark job runs (session already warm; its start is shown
apart). Prints figures; never part of the test pass/fail.
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import sqlglot  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from catalog import write_demo_files, write_social_security_files  # noqa: E402
from jobs.records import Job  # noqa: E402
from jobs.submit import submit_sql  # noqa: E402
from sandbox.limits import Limits  # noqa: E402
from sandbox.runner import SandboxRun, execute, get_runner  # noqa: E402
from service.domain import init_domain  # noqa: E402
from service.settings import Settings  # noqa: E402
from tests.conftest import build_world  # noqa: E402
from tests.jobs.conftest import fresh_database  # noqa: E402
from tests.postgres import postgres_server  # noqa: E402

SMALL = "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district"
BIG = (
    "SELECT district, COUNT(*) AS n, SUM(capital) AS total, AVG(capital) AS mean "
    "FROM big GROUP BY district ORDER BY district"
)


def demo_files(folder: Path) -> list[tuple[Path, Path]]:
    import pandas as pd

    enterprises = write_demo_files(folder, 3000, seed=7)
    frame = pd.read_csv(enterprises[0], dtype={"enterprise_id": str})
    return [enterprises, write_social_security_files(folder, frame, seed=8)]


def throughput(server: str, files: list[tuple[Path, Path]], workers: int, jobs: int) -> float:
    """Jobs per second through `workers` worker processes."""
    home = Path(tempfile.mkdtemp(prefix="sluice-bench-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)  # even after an error
    url = fresh_database(server)
    env = {
        **os.environ,
        "SLUICE_HOME": str(home),
        "SLUICE_DATABASE_URL": url,
        "SLUICE_SANDBOX_BACKEND": "bubblewrap",
        "PYTHONPATH": str(ROOT),
    }
    settings = Settings(home=home, database_url=url, sandbox_backend="bubblewrap")
    world = build_world(init_domain(settings)[0], files, epsilon=1e9)
    command = [sys.executable, "-m", "service.cli", "worker", "--lease-seconds", "30"]
    procs = [
        subprocess.Popen([*command, "--id", f"w{i}"], env=env, stderr=subprocess.DEVNULL)
        for i in range(workers)
    ]
    time.sleep(8)  # let every worker import and reach its idle poll
    d = world.domain
    with d.transaction() as session:
        for _ in range(jobs):
            submit_sql(session, world.license_id, world.operator, SMALL, settings.job_settings())
    started = time.perf_counter()
    while True:
        with d.transaction() as session:
            busy = session.scalar(select(func.count()).where(Job.status.in_(("queued", "running"))))
        if not busy:
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=120)
    d.engine.dispose()
    return jobs / seconds


def big_parquet(folder: Path, rows: int) -> Path:
    path = folder / "big.parquet"
    duckdb.sql(
        f"COPY (SELECT 'district_' || (i % 12) AS district, (i * 7919 % 1000003) * 1.0 AS capital "
        f"FROM range({rows}) t(i)) TO '{path}' (FORMAT parquet)"
    )
    return path


def timed(label: str, action) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    print(f"  {label:<38} {seconds:8.2f} s")
    return seconds


def large_aggregate(folder: Path, rows: int) -> None:
    from jobs.spark_engine import job_session, run_spark, stop_sessions

    data = big_parquet(folder, rows)
    print(f"{rows:,}-row aggregate ({data.stat().st_size / 1e6:.0f} MB Parquet), 12 groups:")
    timed("raw DuckDB (in process)", lambda: duckdb.sql(BIG.replace("big", f"'{data}'")).fetchall())
    limits = Limits(memory_mb=4096, wall_seconds=600, cpu_seconds=600)
    runner = get_runner("bubblewrap")
    spec = {"kind": "sql", "sql": BIG, "output": "result.parquet", "threads": 2}

    def sandboxed() -> None:
        run = SandboxRun("bench", folder / "duck", {"big": data}, spec, limits)
        assert execute(runner, run).ok

    timed("DuckDB, sandboxed path (bubblewrap)", sandboxed)
    timed("Spark local[2]: session start", lambda: job_session("local[2]"))
    spark_sql = sqlglot.transpile(BIG, read="duckdb", write="spark")[0]

    def on_spark(name: str) -> None:
        run = SandboxRun(name, folder / name, {"big": data}, {}, limits)
        result = run_spark(run, spark_sql, "local[2]")
        assert result.ok, result.failure

    timed("Spark local[2]: first query", lambda: on_spark("spark1"))
    timed("Spark local[2]: warm query", lambda: on_spark("spark2"))
    stop_sessions()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    print(
        f"host: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    folder = Path(tempfile.mkdtemp(prefix="sluice-bench-scale-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # even after an error
    files = demo_files(folder)
    with postgres_server() as server:
        print(f"throughput, {args.jobs} small SQL jobs on PostgreSQL 15:")
        for workers in (int(w) for w in args.workers.split(",")):
            rate = throughput(server, files, workers, args.jobs)
            print(f"  {workers} worker(s): {rate:6.2f} jobs/s")
    large_aggregate(folder, args.rows)


if __name__ == "__main__":
    main()
