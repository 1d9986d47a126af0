"""Benchmark: what following an ingest costs (the console's progress bar, issue 17).

    .venv/bin/python bench/bench_ingest_progress.py [--rows 200000] [--repeats 2]

`rows_read` makes ingest count the CSV's lines once before reading it, so the bar
knows its end. This ingests the same CSV into fresh domain homes with and without
`rows_read`, alternating, and prints the best time of each and their ratio (both
measured in this run, so the ratio holds under load), with the load average.
Never part of the tests.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from audit_log import Actor  # noqa: E402
from bench.bench_ingest import SCHEMA  # noqa: E402  (the same meters)
from catalog.ingest import stage_source  # noqa: E402
from catalog.schema import schema_from_text  # noqa: E402
from core.home import Home  # noqa: E402

ACTOR = Actor("bench", "authority")


def write_csv(path: Path, rows: int) -> None:
    rng = np.random.default_rng(1)
    pd.DataFrame(
        {
            "meter_id": [f"M{n:09d}" for n in rng.integers(0, rows // 4, rows)],
            "district": rng.choice(["海曙区", "江北区", "北仑区", "镇海区"], rows),
            "kwh": rng.uniform(0, 20000, rows).round(2),
        }
    ).to_csv(path, index=False)


def staged_in(folder: Path, source: Path, follow: bool) -> float:
    """Seconds to stage `source` (everything ingest does but the registration's insert)."""
    home = Home(folder)
    home.create()
    heard: list[tuple[int, int]] = []
    started = time.perf_counter()
    stage_source(
        home,
        source,
        schema_from_text(SCHEMA),
        rows_read=(lambda *p: heard.append(p)) if follow else None,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        source = root / "meters.csv"
        write_csv(source, args.rows)
        times: dict[bool, list[float]] = {False: [], True: []}
        for repeat in range(args.repeats):
            for follow in (False, True):
                times[follow].append(staged_in(root / f"home-{repeat}-{follow}", source, follow))
    plain, followed = min(times[False]), min(times[True])
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"rows {args.rows:,}; load average {' '.join(load)}")
    print(f"ingest (staging) without rows_read: {plain:.2f} s")
    print(f"ingest (staging) with rows_read:    {followed:.2f} s")
    print(f"ratio: {followed / plain:.3f}")


if __name__ == "__main__":
    main()
