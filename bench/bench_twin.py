"""Speed of synthetic twins: rows per second for `catalog.twin.twin` (Parquet bytes
included), beside the demo data generator (`generate_enterprises`) at the same size
measured in the same run. Figures, not a test.

    .venv/bin/python bench/bench_twin.py [--rows 10000 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

from catalog.schema import load_schema
from catalog.synthetic import ENTERPRISE_SCHEMA, generate_enterprises
from catalog.twin import twin


def best_of(repeat: int, work: Callable[[], object]) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    schema = load_schema(ENTERPRISE_SCHEMA)
    print(f"python {platform.python_version()}, {platform.machine()}, best of {args.repeat}")
    print("rows\ttwin zip (s)\tdemo generator (s)\ttwin rows/s")
    for rows in args.rows:
        made, _ = best_of(args.repeat, lambda rows=rows: twin(schema, rows, seed=1).zip())
        demo, _ = best_of(args.repeat, lambda rows=rows: generate_enterprises(rows, seed=1))
        print(f"{rows}\t{made:.3f}\t{demo:.3f}\t{rows / made:,.0f}")


if __name__ == "__main__":
    main()
