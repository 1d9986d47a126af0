"""Docker soak throughput: many SQL and notebook jobs at once, Sluice's docker backend
(warm pool, hardened containers, logs and exit status read before removal) against a
bare `docker run --rm` of the same runtime and spec, in the same run.

Run: .venv/bin/python bench/bench_soak.py [--jobs 200] [--concurrency 4] [--notebooks 0.25]
(as root, dockerd up, image built). Prints jobs/s and failures for each; a failure
is any job that did not end as expected (a bare run: a non-zero exit).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox import Limits, SandboxRun, execute  # noqa: E402
from sandbox.runner import SPEC_NAME, job_spec  # noqa: E402

RUNTIME = Path(__file__).resolve().parents[1] / "sandbox" / "runtime"
# Races, not limits: a loaded host may take a minute to start a notebook's kernel, and
# the bare baseline has no wall limit at all.
LIMITS = Limits(wall_seconds=900)
SQL = "SELECT district, COUNT(*) AS n, AVG(water_fee) AS fee FROM enterprise_utilities GROUP BY 1"


def small_data(folder: Path) -> Path:
    frame = pd.DataFrame(
        {
            "district": ["镇海区", "北仑区", "海曙区", "江北区"] * 500,
            "water_fee": [float((i * 7919) % 1000) for i in range(2000)],
        }
    )
    path = folder / "enterprise_utilities.parquet"
    frame.to_parquet(path)
    return path


def notebook() -> bytes:
    book = nbformat.v4.new_notebook()
    code = "import pandas as pd\npd.DataFrame({'a': [1]}).to_csv('/out/a.csv', index=False)"
    book.cells = [nbformat.v4.new_code_cell(code)]
    return nbformat.writes(book).encode()


def runs(scratch: Path, data: Path, jobs: int, share: float) -> list[SandboxRun]:
    every = max(1, round(1 / share)) if share > 0 else jobs + 1
    made = []
    for i in range(jobs):
        work = scratch / f"job-{i}"
        if i % every == 0:
            spec = {"kind": "notebook", "notebook": "/job/notebook.ipynb"}
            files = {"notebook.ipynb": notebook()}
            made.append(SandboxRun(str(i), work, {}, spec, LIMITS, files))
        else:
            spec = {"kind": "sql", "sql": SQL, "output": "result.parquet"}
            made.append(SandboxRun(str(i), work, {"enterprise_utilities": data}, spec, LIMITS))
    return made


def sluice_job(runner: object) -> Callable[[SandboxRun], bool]:
    def one(run: SandboxRun) -> bool:
        try:
            result = execute(runner, run)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001  counted as a failure, and said
            print(f"job {run.job_id}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return False
        if not result.ok:
            print(f"job {run.job_id} ({run.spec['kind']}): {result.failure}", file=sys.stderr)
        return result.ok

    return one


def bare_job(image: str) -> Callable[[SandboxRun], bool]:
    """`docker run --rm` of the runtime on the same spec and files: no pool, no limits,
    no hardening; the Docker engine's own floor for the same work."""

    def one(run: SandboxRun) -> bool:
        for sub in ("job", "out"):
            (run.work_dir / sub).mkdir(parents=True, exist_ok=True)
        (run.work_dir / "out").chmod(0o777)
        for name, content in run.files.items():
            (run.job_dir / name).write_bytes(content)
        (run.job_dir / SPEC_NAME).write_text(json.dumps(job_spec(run)))
        argv = ["docker", "run", "--rm", "--network", "none", "--user", "65534:65534"]
        argv += ["-e", "PYTHONPATH=/runtime", "-e", "HOME=/tmp", "-e", "SLUICE_ALLOW_PROBES=1"]
        argv += ["-v", f"{RUNTIME}:/runtime:ro", "-v", f"{run.job_dir}:/job:ro"]
        argv += ["-v", f"{run.out_dir}:/out"]
        for name, path in run.data.items():
            argv += ["-v", f"{path}:/data/{name}.parquet:ro"]
        argv += [image, "python3", "-m", "sluice_runtime", f"/job/{SPEC_NAME}"]
        done = subprocess.run(argv, capture_output=True, check=False)
        return done.returncode == 0

    return one


def soak(name: str, job: Callable[[SandboxRun], bool], made: list[SandboxRun], workers: int) -> str:
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        ok = list(pool.map(job, made))
    seconds = time.perf_counter() - started
    failures = ok.count(False)
    return f"| {name} | {len(made)} | {seconds:.1f} | {len(made) / seconds:.2f} | {failures} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--notebooks", type=float, default=0.25, help="share of notebook jobs")
    args = parser.parse_args()
    from sandbox.docker_backend import DockerRunner, remove_leftovers
    from sandbox.image import image_tag

    tag = image_tag()
    scratch = Path(tempfile.mkdtemp(prefix="sluice-soak-"))
    data = small_data(scratch)
    home = scratch / "home"
    runner = DockerRunner(allow_probes=True, image=tag, pool_size=2, home=home, pool_limits=LIMITS)
    rows = []
    try:
        runner.fill_pool()
        made = runs(scratch / "sluice", data, args.jobs, args.notebooks)
        rows.append(
            soak("sluice docker, warm pool of 2", sluice_job(runner), made, args.concurrency)
        )
        runner.settle()
        made = runs(scratch / "bare", data, args.jobs, args.notebooks)
        rows.append(soak("bare `docker run --rm`", bare_job(tag), made, args.concurrency))
    finally:
        runner.drain_pool()
        remove_leftovers(home)
        shutil.rmtree(scratch, ignore_errors=True)
    notebooks = sum(
        1 for i in range(args.jobs) if args.notebooks and i % round(1 / args.notebooks) == 0
    )
    print(f"{args.jobs} jobs ({notebooks} notebooks), {args.concurrency} at a time\n")
    print("| what | jobs | seconds | jobs/s | failures |\n|---|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
