"""Profile: where the CPU of one small SQL job goes, host and sandbox (issue 18).

    .venv/bin/python bench/profile_small_job.py [--runs 10] [--top 30] [--dp]

Runs `--runs` small SQL jobs one at a time on the embedded defaults (SQLite +
bubblewrap, cold sandboxes, demo data) under cProfile, then prints the CPU per job
of this process and of its children (the sandboxes and the policy check's fork),
the profile's top entries by cumulative and by own time, and, as the sandbox's share,
the CPU of a fresh interpreter importing what the SQL runtime imports. Prints figures
and the load average; never part of the test pass/fail.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_jobs import DP, load, one_job  # noqa: E402
from bench_scale import SMALL, demo_files  # noqa: E402

from service.domain import init_domain  # noqa: E402
from service.settings import Settings  # noqa: E402
from tests.conftest import build_world  # noqa: E402

IMPORTS = (
    "pass",
    "import _duckdb",  # what the SQL runtime loads (sandbox/runtime/sluice_runtime/sql.py)
    "import _duckdb; _duckdb.connect().execute('SELECT 1').fetchall()",
    "import duckdb",  # with DuckDB's relation layer, which it loaded before
    "import duckdb; duckdb.connect().sql('SELECT 1').fetchall()",
    "import duckdb, pyarrow.parquet",
)


def cpu_split() -> tuple[float, float]:
    """CPU seconds of this process and of its reaped children, apart."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def import_costs(runs: int) -> None:
    """The runtime's start, measured as the sandbox starts it (`python -s -P`)."""
    for code in IMPORTS:
        before = cpu_split()[1]
        for _ in range(runs):
            subprocess.run([sys.executable, "-s", "-P", "-c", code], check=True)
        cpu = (cpu_split()[1] - before) / runs
        print(f"  fresh python -c {code!r}: {cpu * 1000:.0f} ms CPU")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--dp", action="store_true", help="profile the DP job (L3 AVG) instead")
    parser.add_argument("--no-imports", action="store_true", help="skip the runtime's start")
    args = parser.parse_args()
    print(f"load average at start: {load()}")
    files = demo_files(Path(tempfile.mkdtemp(prefix="sluice-profile-data-")))
    home = Path(tempfile.mkdtemp(prefix="sluice-profile-"))
    settings = Settings(home=home, sandbox_backend="bubblewrap", sandbox_pool_size=0)
    world = build_world(init_domain(settings)[0], files, epsilon=1e9)
    small = one_job(world, settings, DP if args.dp else SMALL)
    small()  # the first job pays for imports in this process
    own, children = cpu_split()
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.runs):
        small()
    profile.disable()
    own_after, children_after = cpu_split()
    print(
        f"CPU per small SQL job: this process {(own_after - own) / args.runs * 1000:.0f} ms,"
        f" children (sandbox, policy fork) {(children_after - children) / args.runs * 1000:.0f} ms"
    )
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    if not args.no_imports:
        print("the sandbox runtime's start:")
        import_costs(args.runs)
    print(f"load average at end: {load()}")
    world.domain.engine.dispose()
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
