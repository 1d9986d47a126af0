"""Benchmark: the output gate over a table of 1,000,000 aggregate cells.

    .venv/bin/python bench/bench_gate.py [--rows 500000] [--repeat 5]

The table has two group keys and two aggregate columns (a COUNT and a SUM with its
companions), so rows x 2 cells are checked; about 15% of rows rest on fewer than
10 units, so the rules, secondary suppression and the finding cap all do work. The
value scan tests every key value against a keyed-hash index of 100,000 raw
identifiers. Beside it, in the same run: a plain pandas groupby-sum over the same
frame (the baseline), the combination scan, and signing and verifying the released
table as a package. The differencing check has its own: bench/bench_populations.py.
Prints the median of `--repeat` runs for each; never part of the test pass/fail.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalog.identifiers import (  # noqa: E402
    COMBINATION_TAG,
    IDENTIFIER_TAG,
    _digest,
    contains_identifier,
    index_key,
)
from gate.disclosure import DisclosureRules
from gate.step import combination_matcher
from gate.tables import CellSpec, GateResult, check_table, companion_columns
from gate.value_scan import Combination
from products.package import PackageVerification, build_package, verify_package  # noqa: E402

CELLS = [
    CellSpec("district", "group_key"),
    CellSpec("industry", "group_key"),
    CellSpec("cnt", "count"),
    CellSpec("fee", "sum"),
]


def make_table(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = rng.integers(1, 60, rows)
    per_unit = rng.uniform(10, 1000, rows)
    fee = per_unit * n
    frame = pd.DataFrame(
        {
            "district": [f"区{i % 997}" for i in range(rows)],
            "industry": np.arange(rows) // 997,
            "cnt": n,
            "fee": fee,
            "__n": n,
        }
    )
    names = companion_columns("fee")
    top1 = per_unit * rng.uniform(1.0, 3.0, rows)
    dominant = rng.random(rows) < 0.02  # planted dominant contributors
    top1 = np.where(dominant, fee * 0.95, np.minimum(top1, fee))
    frame[names["top1"]] = top1
    frame[names["top2"]] = np.minimum(per_unit, fee - top1)
    frame[names["abs"]] = fee
    frame[names["sum"]] = fee
    return frame


def index_of(count: int, key: bytes) -> set[str]:
    derived = index_key(key)
    hashes = {_digest(derived, IDENTIFIER_TAG, f"9133{i:014d}") for i in range(count)}
    hashes |= {_digest(derived, COMBINATION_TAG, f"{i}\x1f区{i}") for i in range(count)}
    return hashes


def timed(run: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rules = DisclosureRules()
    frame = make_table(args.rows)
    cells = args.rows * 2
    key = secrets.token_bytes(32)
    index = index_of(100_000, key)

    def is_identifier(value: object) -> bool:
        return contains_identifier(value, index, key)

    quasi = Combination("firms", ("founded", "street"), combination_matcher(index, key))

    baseline, _ = timed(
        lambda: frame.groupby(["district", "industry"], sort=False)[["cnt", "fee"]].sum(),
        args.repeat,
    )
    gate, result = timed(lambda: check_table(frame, CELLS, rules, is_identifier), args.repeat)
    assert isinstance(result, GateResult)
    full, _ = timed(lambda: check_table(frame, CELLS, rules, is_identifier, [quasi]), args.repeat)
    table_bytes = result.table.to_csv(index=False).encode()
    signer = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as folder:
        paths = iter(Path(folder) / f"p{i}.zip" for i in range(args.repeat))

        def build() -> Path:
            path = next(paths)
            build_package(path, {"result.csv": table_bytes}, {"job": 1}, signer)
            return path

        package_time, path = timed(build, args.repeat)
        assert isinstance(path, Path)
        verify_time, verified = timed(lambda: verify_package(path, signer.public_key()), 1)
        assert isinstance(verified, PackageVerification) and verified.ok

    rate = cells / gate / 1e6
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}"
    )
    print(f"table: {args.rows:,} rows x 2 aggregate columns = {cells:,} cells, 2 group keys")
    print(f"median of {args.repeat} runs; findings by rule (cells): {result.counts}")
    print(f"baseline  pandas groupby-sum, same frame          {baseline:7.3f} s")
    print(
        f"gate      rules, suppression, identifier scan     {gate:7.3f} s  ({rate:.1f} M cells/s)"
    )
    print(f"gate+qi   ... and quasi-identifier combinations   {full:7.3f} s")
    print(
        f"package   sign {len(table_bytes) / 1e6:.1f} MB; verify            {package_time:7.3f} s;"
        f" {verify_time:.3f} s"
    )
    verdict = "meets" if gate <= 2.0 else "MISSES"
    print(
        f"target: gate over 1,000,000 cells <= 2 s: {verdict} ({gate:.3f} s, "
        f"{gate / baseline:.1f}x the baseline)"
    )


if __name__ == "__main__":
    main()
