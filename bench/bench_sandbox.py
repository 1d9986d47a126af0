"""Sandbox start latency: from submit to the job's first byte of work, per backend.

Run: .venv/bin/python bench/bench_sandbox.py [--runs 20]   (as root, dockerd up, image built)

"Submit" is the call to the runner's start(); "first byte of work" is the wall-clock
time the job's own first statement reads (time.time(), one clock for host and
sandbox). Beside the backends, in the same run: the same runtime with no sandbox,
a bare `python -c pass`, and `docker run --rm IMAGE true`. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox import Runner, SandboxRun, execute  # noqa: E402
from sandbox.runner import SPEC_NAME  # noqa: E402

FIRST_BYTE = "import time\nopen('/out/t', 'w').write(repr(time.time()))\n"
RUNTIME = Path(__file__).resolve().parents[1] / "sandbox" / "runtime"


def first_byte(runner: Runner, scratch: Path, n: int) -> float:
    work = scratch / f"job-{runner.name}-{n}"
    run = SandboxRun(str(n), work, {}, {"kind": "probe", "code": FIRST_BYTE})
    submitted = time.time()
    result = execute(runner, run)
    if not result.ok:
        raise SystemExit(f"{runner.name}: {result.failure}\n{result.log_path.read_text()}")
    began = float((work / "out" / "t").read_text())
    shutil.rmtree(work)
    settle = getattr(runner, "settle", None)
    if settle is not None:  # outside the timing: the pool refilled, as between real jobs
        settle()
    return began - submitted


def unsandboxed(scratch: Path, n: int) -> float:
    """The same runtime and probe straight on the host: what no sandbox costs."""
    work = scratch / f"plain-{n}"
    (work / "out").mkdir(parents=True)
    spec = {"kind": "probe", "code": FIRST_BYTE.replace("/out/t", str(work / "out" / "t"))}
    (work / SPEC_NAME).write_text(json.dumps(spec))
    env = {"PYTHONPATH": str(RUNTIME), "SLUICE_ALLOW_PROBES": "1", "PATH": os.environ["PATH"]}
    submitted = time.time()
    argv = [sys.executable, "-s", "-P", "-m", "sluice_runtime", str(work / SPEC_NAME)]
    subprocess.run([*argv, "--out", str(work / "out")], env=env, check=True)
    began = float((work / "out" / "t").read_text())
    shutil.rmtree(work)
    return began - submitted


def wall(argv: list[str]) -> Callable[[Path, int], float]:
    def measure(_scratch: Path, _n: int) -> float:
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started

    return measure


def row(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"| {name} | {statistics.median(ms):.1f} | {p90:.1f} | {ms[0]:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    from sandbox.bubblewrap import BubblewrapRunner
    from sandbox.docker_backend import DockerRunner
    from sandbox.image import image_tag

    tag = image_tag()
    scratch = Path(tempfile.mkdtemp(prefix="sluice-bench-"))
    cold = DockerRunner(allow_probes=True, image=tag, pool_dir=scratch / "cold-pool")
    warm = DockerRunner(allow_probes=True, image=tag, pool_dir=scratch / "pool", pool_size=2)
    warm.fill_pool()
    bwrap = BubblewrapRunner(allow_probes=True)
    cases: list[tuple[str, Callable[[Path, int], float]]] = [
        ("bare `python -c pass` (wall)", wall([sys.executable, "-c", "pass"])),
        ("runtime, no sandbox (first byte)", unsandboxed),
        ("bubblewrap (first byte)", lambda s, n: first_byte(bwrap, s, n)),
        ("docker, warm pool (first byte)", lambda s, n: first_byte(warm, s, n)),
        ("docker, cold container (first byte)", lambda s, n: first_byte(cold, s, n)),
        (f"`docker run --rm {tag} true` (wall)", wall(["docker", "run", "--rm", tag, "true"])),
    ]
    results: dict[str, list[float]] = {}
    try:
        for name, measure in cases:
            measure(scratch, -1)  # warm caches
            results[name] = [measure(scratch, n) for n in range(args.runs)]
    finally:
        warm.drain_pool()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{args.runs} runs each; milliseconds\n")
    print("| what | p50 | p90 | min |\n|---|---|---|---|")
    for name, samples in results.items():
        print(row(name, samples))
    plain = statistics.median(results["runtime, no sandbox (first byte)"])
    overhead = statistics.median(results["bubblewrap (first byte)"]) - plain
    print(f"\nbubblewrap overhead over no sandbox, p50: {overhead * 1000:.1f} ms (target ≤ 50)")
    warm_p50 = statistics.median(results["docker, warm pool (first byte)"])
    print(f"docker with warm pool, p50: {warm_p50 * 1000:.1f} ms (target ≤ 150)")


if __name__ == "__main__":
    main()
