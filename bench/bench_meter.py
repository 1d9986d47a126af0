"""Benchmark: a city's meter readings on the embedded defaults (issue 18).

    .venv/bin/python bench/bench_meter.py [--rows 10000000] [--burst 20]

One Parquet file of `--rows` meters (one row per meter: meter_id, district, kwh),
and the bureau's query `SELECT district, COUNT(*), SUM(kwh), AVG(kwh) ... GROUP BY
district` at L2. It is checked and rewritten by the policy engine exactly as a job
is (per-meter bounding, then the aggregate), and timed (a) as raw DuckDB running
the operator's own SQL in this process, (b) the rewritten SQL through the
sandboxed path (bubblewrap, default `Limits()`: spill directory and quota, memory
and threads as a job gets them). `--burst N` also runs N copies at once through
the bounded local queue (sandbox.queue) and reports how many succeeded. Prints
figures; never part of the test pass/fail.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import os
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
from sqlglot import exp  # noqa: E402

from catalog.schema import DatasetSchema, parse_schema  # noqa: E402
from catalog.unit_digests import UNIT_CHECK_COLUMN, UNIT_DIGEST_COLUMN  # noqa: E402
from core.levels import Level  # noqa: E402
from policies import LicenseScope, check_query  # noqa: E402
from policies.core_sql import sketch_check  # noqa: E402
from sandbox.limits import Limits  # noqa: E402
from sandbox.runner import SandboxResult, SandboxRun, execute, get_runner  # noqa: E402

DISTRICTS = 10
QUERY = (
    "SELECT district, COUNT(*) AS meters, SUM(kwh) AS total_kwh, AVG(kwh) AS mean_kwh "
    "FROM meter_readings GROUP BY district"
)


def meter_schema() -> DatasetSchema:
    """The meters as ingest stores them: with each row's unit digest and its check value
    (catalog.unit_digests)."""
    return dataclasses.replace(_declared(), unit_digests=True, unit_checks=True)


def _declared() -> DatasetSchema:
    return parse_schema(
        {
            "dataset": "meter_readings",
            "privacy_unit": "meter_id",
            "columns": [
                {
                    "name": "meter_id",
                    "type": "string",
                    "level": "L3",
                    "role": "identifier",
                    "desensitize": "pseudonymize",
                },
                {
                    "name": "district",
                    "type": "string",
                    "level": "L1",
                    "role": "dimension",
                    "categories": [f"district_{i}" for i in range(DISTRICTS)],
                },
                {
                    "name": "kwh",
                    "type": "double",
                    "level": "L2",
                    "role": "measure",
                    "bounds": [0, 20000],
                },
            ],
        }
    )


def meter_parquet(path: Path, rows: int) -> Path:
    """One row per meter; meter ids look like stored pseudonyms (hex digests), and each
    row has its unit digest as ingest writes it (the first 8 bytes of the id's MD5, as a
    signed BIGINT) and the digest's check value."""
    half = "('0x' || substring(md5(meter_id), 1, 16))::UBIGINT::HUGEINT"
    wrap = "18446744073709551616::HUGEINT"  # 2^64: the same 8 bytes, read as signed
    signed = f"CAST(CASE WHEN {half} >= {wrap} // 2 THEN {half} - {wrap} ELSE {half} END AS BIGINT)"
    check = sketch_check(exp.column(UNIT_DIGEST_COLUMN)).sql("duckdb")
    duckdb.sql(
        f"COPY (SELECT *, {check} AS {UNIT_CHECK_COLUMN} FROM (SELECT *, {signed} AS"
        f" {UNIT_DIGEST_COLUMN} FROM (SELECT md5(i::VARCHAR) AS meter_id, 'district_' ||"
        f" (i % {DISTRICTS}) AS district, (i * 7919 % 20000) * 1.0 AS kwh FROM range({rows})"
        f" t(i)))) TO '{path}' (FORMAT parquet)"
    )
    return path


def rewritten_sql() -> str:
    scope = LicenseScope(datasets=("meter_readings",), max_level=Level.L2)
    decision = check_query(QUERY, {"meter_readings": meter_schema()}, scope, 1.0)
    assert decision.sql, decision.reasons
    return decision.sql


def sandboxed(data: Path, sql: str, work: Path, limits: Limits) -> SandboxResult:
    spec = {"kind": "sql", "sql": sql, "output": "result.parquet"}
    run = SandboxRun(work.name, work, {"meter_readings": data}, spec, limits)
    return execute(get_runner("bubblewrap"), run)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--burst", type=int, default=0)
    parser.add_argument("--burst-rows", type=int, default=10_000_000)
    args = parser.parse_args()
    print(f"host: {platform.platform()}, {os.cpu_count()} cores")
    folder = Path(tempfile.mkdtemp(prefix="sluice-bench-meter-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # even after an error
    data = meter_parquet(folder / "meters.parquet", args.rows)
    sql = rewritten_sql()
    limits = Limits()
    print(f"{args.rows:,} meters ({data.stat().st_size / 1e6:.0f} MB Parquet); limits {limits}")
    started = time.perf_counter()
    duckdb.sql(QUERY.replace("meter_readings", f"'{data}'")).fetchall()
    raw = time.perf_counter() - started
    print(f"  raw DuckDB, operator's SQL (in process)    {raw:8.2f} s")
    started = time.perf_counter()
    result = sandboxed(data, sql, folder / "one", limits)
    boxed = time.perf_counter() - started
    state = "ok" if result.ok else f"FAILED {result.failure}"
    print(f"  rewritten SQL, sandboxed (bubblewrap)      {boxed:8.2f} s  {state}")
    print(f"  ratio sandboxed / raw                      {boxed / raw:8.2f}x")
    if args.burst:
        from sandbox.queue import LocalQueue

        burst_data = data
        if args.burst_rows != args.rows:
            burst_data = meter_parquet(folder / "burst.parquet", args.burst_rows)
        queue = LocalQueue()
        started = time.perf_counter()

        def one(i: int) -> SandboxResult:
            with queue.slot():
                return sandboxed(burst_data, sql, folder / f"burst{i}", limits)

        with ThreadPoolExecutor(args.burst) as pool:
            results = list(pool.map(one, range(args.burst)))
        seconds = time.perf_counter() - started
        ok = sum(r.ok for r in results)
        failures = sorted({str(r.failure) for r in results if not r.ok})
        print(
            f"  burst of {args.burst} x {args.burst_rows:,} rows, {queue.size} at once: "
            f"{ok}/{args.burst} ok in {seconds:.1f} s {failures or ''}"
        )


if __name__ == "__main__":
    main()
