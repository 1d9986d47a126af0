"""Benchmark: one core shape as two trees write it, alternated in one DuckDB connection.

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/bench_core_ab.py --before /tmp/before [--rows 10000000]
                                            [--shape stored] [--rounds 20]

A change to the core moves a 10M-row core by a few hundredths of a second, less than
two runs of `bench_core.py` differ by on a shared host. Here both SQL texts (each
written by its own tree's `bench_core.shapes()`, in a child process) run over the same
Parquet file in the same connection, one after the other, round after round, with the
operator's raw SQL between them; the paired differences say which is faster.
Prints figures; never part of the test pass/fail.
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import duckdb  # noqa: E402
from bench_core import meter_connection  # noqa: E402
from bench_meter import QUERY, meter_parquet  # noqa: E402

WRITE_SHAPE = (
    "import sys; sys.path[:0] = ['.', 'bench']; import bench_core; "
    "sys.stdout.write(bench_core.shapes()[sys.argv[1]])"
)


def shape_sql(root: Path, shape: str) -> str:
    """The shape's SQL as the tree at `root` writes it."""
    found = subprocess.run(
        [sys.executable, "-c", WRITE_SHAPE, shape],
        cwd=root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return found.stdout


def timed(connection: duckdb.DuckDBPyConnection, sql: str) -> float:
    started = time.perf_counter()
    connection.execute(sql).fetchall()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, required=True, help="the other tree's root")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--shape", default="stored")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sluice-bench-core-ab-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    data = meter_parquet(folder / "meters.parquet", args.rows)
    texts = {"before": shape_sql(args.before, args.shape), "after": shape_sql(ROOT, args.shape)}
    if texts["before"] == texts["after"]:
        raise SystemExit("the two trees write the same SQL: nothing to compare")
    connection = meter_connection(data)
    runs = {"raw": QUERY, **texts}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for sql in runs.values():  # warm the file cache and the plans
        connection.execute(sql).fetchall()
    for round_ in range(args.rounds):
        order = list(runs) if round_ % 2 == 0 else list(reversed(runs))
        for name in order:
            times[name].append(timed(connection, runs[name]))
    print(f"{args.rows:,} meters, shape {args.shape!r}, {args.rounds} rounds")
    for name, found in times.items():
        print(f"  {name:7s} median {statistics.median(found):.3f} s  best {min(found):.3f} s")
    paired = [b - a for a, b in zip(times["after"], times["before"], strict=True)]
    faster = sum(1 for d in paired if d > 0)
    print(f"  before - after, paired: median {statistics.median(paired):+.3f} s; "
          f"after faster in {faster} of {len(paired)} rounds")  # fmt: skip


if __name__ == "__main__":
    main()
