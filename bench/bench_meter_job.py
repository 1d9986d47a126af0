"""Benchmark: the meter job of issue 18 as a job, submit to awaiting review.

    .venv/bin/python bench/bench_meter_job.py [--rows 1000000] [--runs 2]

A domain on the embedded defaults (SQLite, bubblewrap, default limits) ingests a
register of `--rows` meters (bench_meter.py's schema: one row per meter, the id
pseudonymized), an operator licensed at L2 submits
`SELECT district, COUNT(*), SUM(kwh), AVG(kwh) ... GROUP BY district`, and the job
runs in this process as the service runs it (policy decision at submit, sandbox, gate
with the differencing store, audit) until it rests. Each run after the first finds
its populations already in the store, as a repeated query does. `--meters N`
makes it a table of readings instead: N meters, each with rows/N readings in its own
district (then ingest cannot prove one row per unit and the core bounds per unit). The
baseline in the same run: raw DuckDB running the operator's SQL on the stored
Parquet in this process (best of 5). Ingest is timed apart. Prints figures and the
load average; never part of the test pass/fail.
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import duckdb  # noqa: E402
import yaml  # noqa: E402
from bench_meter import DISTRICTS, QUERY, meter_schema  # noqa: E402

from catalog import get_dataset, ingest  # noqa: E402
from catalog.records import schema_document  # noqa: E402
from catalog.schema import load_schema  # noqa: E402
from jobs.runner import run  # noqa: E402
from jobs.submit import submit_sql  # noqa: E402
from operators.accounts import Principal, add_operator, add_user  # noqa: E402
from operators.licenses import grant_license  # noqa: E402
from service.domain import init_domain  # noqa: E402
from service.settings import Settings  # noqa: E402
from tests.conftest import AUTHORITY  # noqa: E402


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def meter_csv(path: Path, rows: int, meters: int) -> Path:
    duckdb.sql(
        f"COPY (SELECT 'M' || lpad((i % {meters})::VARCHAR, 12, '0') AS meter_id,"
        f" 'district_' || (i % {meters} % {DISTRICTS}) AS district,"
        f" (i * 7919 % 20000) * 1.0 AS kwh FROM range({rows}) t(i)) TO '{path}' (HEADER)"
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--meters", type=int, help="readings of this many meters (default: rows)")
    parser.add_argument("--profile", action="store_true", help="cProfile the last run")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; load average at start: {load()}")
    folder = Path(tempfile.mkdtemp(prefix="sluice-bench-meter-job-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # even after an error
    settings = Settings(home=folder / "home", sandbox_backend="bubblewrap")
    domain = init_domain(settings)[0]
    schema_file = folder / "meter_readings.yaml"
    schema_file.write_text(yaml.safe_dump(schema_document(meter_schema())), "utf-8")
    meters = args.meters or args.rows
    data = meter_csv(folder / "meters.csv", args.rows, meters)
    started = time.perf_counter()
    with domain.transaction() as session:
        ingest(session, domain.home, data, load_schema(schema_file), AUTHORITY)
    took = time.perf_counter() - started
    print(f"ingest of {args.rows:,} rows ({meters:,} meters): {took:.1f} s")
    with domain.transaction() as session:
        add_operator(session, "甬城数据运营有限公司", AUTHORITY)
        user = add_user(session, "li", "operator", "甬城数据运营有限公司", AUTHORITY)
        record = get_dataset(session, "meter_readings")
        stored = record.data_path(domain.home)
        license = grant_license(
            session,
            operator="甬城数据运营有限公司",
            schemas={"meter_readings": record.schema()},
            max_level="L2",
            purpose="bench",
            valid_until=date.today() + timedelta(days=30),
            actor=AUTHORITY,
        )
        license_id, operator = license.id, Principal.of(user)
    con = duckdb.connect()
    con.execute(f"CREATE VIEW meter_readings AS SELECT * FROM read_parquet('{stored}')")
    raws = []
    for _ in range(5):
        started = time.perf_counter()
        con.execute(QUERY).fetchall()
        raws.append(time.perf_counter() - started)
    raw = min(raws)
    print(f"raw DuckDB, the operator's SQL on the stored Parquet: {raw:.3f} s (best of 5)")
    job_settings = settings.job_settings()
    for attempt in range(args.runs):
        started = time.perf_counter()
        with domain.transaction() as session:
            job_id = submit_sql(session, license_id, operator, QUERY, job_settings).id
        profiler = cProfile.Profile() if args.profile and attempt == args.runs - 1 else None
        if profiler is not None:
            profiler.enable()
        job = run(domain.sessions, domain.home, job_id, job_settings)
        if profiler is not None:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        took = time.perf_counter() - started
        state = job.status if job.status != "failed" else f"failed: {job.failure}"
        print(f"job {attempt + 1}: submit -> {state} {took:.2f} s, {took / raw:.1f}x raw")
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
