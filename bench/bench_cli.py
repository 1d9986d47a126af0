"""Benchmark: how long `sluice --help` (and a group's help) takes to start, beside a bare
`python -c pass` measured in the same run.

    .venv/bin/python bench/bench_cli.py [--runs 10] [--other /path/to/another/checkout]

Each command is started `--runs` times as a fresh process; the median wall time and
the median CPU time (user + system: what the start costs on an idle host, when a
loaded one makes wall time wait for a core) are printed with their ratios to the
bare interpreter, and the load average. With --other, the same commands of another
checkout (main before a change, say) are measured in the same run. Prints figures;
never part of the test pass/fail.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "sluice --help": [sys.executable, "-m", "service.cli", "--help"],
    "sluice --version": [sys.executable, "-m", "service.cli", "--version"],
}
# every entry of service.cli.COMMANDS: the groups and the top-level commands
GROUPS = [
    "audit", "catalog", "demo", "disclosure", "init", "interfaces", "jobs", "licenses",
    "operators", "outputs", "policy", "products", "releases", "review", "sandbox", "serve",
    "tokens", "users", "worker",
]  # fmt: skip
COMMANDS |= {
    f"sluice {group} --help": [sys.executable, "-m", "service.cli", group, "--help"]
    for group in GROUPS
}


def median_seconds(command: list[str], runs: int, tree: Path = ROOT) -> tuple[float, float]:
    """Median (wall, CPU) seconds of `runs` fresh starts of `tree`'s code."""
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "100"}
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        # in the tree: `python -m` puts the working directory first on sys.path
        subprocess.run(command, env=env, cwd=tree, stdout=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--other", type=Path, help="another checkout to measure beside this one")
    args = parser.parse_args()
    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}")
    base_wall, base_cpu = median_seconds(COMMANDS["python -c pass"], args.runs)
    print(f"  {'':<30} {'wall':>7}     {'CPU':>7}     (ratios to bare Python)")
    trees = [("", ROOT)] + ([(" (other)", args.other.resolve())] if args.other else [])
    for label, command in COMMANDS.items():
        for suffix, tree in trees:
            is_base = label == "python -c pass"
            if is_base and suffix:
                continue
            wall, cpu = (
                (base_wall, base_cpu) if is_base else median_seconds(command, args.runs, tree)
            )
            ratios = f"{wall / base_wall:4.1f}x, {cpu / max(base_cpu, 0.001):4.1f}x"
            name = label + suffix
            print(f"  {name:<30} {wall * 1000:5.0f} ms  {cpu * 1000:5.0f} ms  ({ratios})")
    print(f"load average after:  {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
