"""The Docker soak: 200 notebook and SQL jobs through the real job path (submit, workers,
sandbox, gate) on the docker backend with a warm pool, every one ending as it should.

Jobs are submitted while several workers claim and run them, as `sluice worker`
processes on one host would; a share of notebooks fail on purpose, so a failing
container sits beside healthy ones the whole time. Any spurious failure (an engine
409, a container lost to another job's cleanup, a stuck job) fails the test.
"""

from __future__ import annotations

import dataclasses
import threading
import traceback
from collections import Counter
from pathlib import Path

import nbformat
import pytest

from jobs.queries import get_job
from jobs.settings import JobSettings
from jobs.submit import submit_notebook, submit_sql
from jobs.worker import WorkerOptions, work_one
from sandbox import Limits
from sandbox.docker_backend import DockerRunner, remove_leftovers
from sandbox.pool import scope_containers
from tests.conftest import World
from tests.sandbox.conftest import docker_runner

pytestmark = [pytest.mark.sandbox("docker"), pytest.mark.docker, pytest.mark.slow]

JOBS = 200
WORKERS = 4  # `sluice worker` processes on one host, each one job at a time
POOL_SIZE = WORKERS  # a warm container for each worker
# The soak looks for races, not limits: on a loaded host a notebook's kernel alone can
# take a minute to start, so the wall limit is generous; every other limit is the default.
LIMITS = Limits(wall_seconds=900)

QUERIES = [
    "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district",
    "SELECT industry, COUNT(*) AS n FROM enterprise_utilities GROUP BY industry",
    "SELECT district, AVG(water_fee) AS avg_fee, COUNT(*) AS n FROM enterprise_utilities "
    "GROUP BY district",
]


def _notebook(*cells: str) -> str:
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    return str(nbformat.writes(book))


GOOD_NOTEBOOK = _notebook(  # its L1 view only; what it writes is a custom output
    "from sluice_runtime import dataset\ndf = dataset('enterprise_utilities')",
    "df.groupby('district').size().to_frame('n').to_parquet('/out/by_district.parquet')",
)
BAD_NOTEBOOK = _notebook("print('about to fail')", "1 / 0")


def plan(count: int) -> list[tuple[str, str, str]]:
    """(kind, source, expected status) per job: 9 of every 10 SQL; of the notebooks, 1 in 4
    fails on purpose."""
    jobs = []
    for i in range(count):
        if i % 10:
            jobs.append(("sql", QUERIES[i % len(QUERIES)], "awaiting_review"))
        elif i % 40 == 0:
            jobs.append(("notebook", BAD_NOTEBOOK, "failed"))
        else:
            jobs.append(("notebook", GOOD_NOTEBOOK, "awaiting_review"))
    return jobs


@pytest.fixture
def docker_settings(world: World) -> JobSettings:
    """The world's job settings on docker with the default warm pool, in its home."""
    runner = docker_runner(None, home=world.domain.home.root)  # engine and image, or skip
    assert isinstance(runner, DockerRunner)
    base = world.domain.settings.job_settings()
    return dataclasses.replace(
        base,
        backend="docker",
        image=runner.image,
        pool_size=POOL_SIZE,
        limits=LIMITS,
        epsilon_per_query=0.01,
    )


def test_soak_200_jobs_on_docker(world: World, docker_settings: JobSettings) -> None:
    d = world.domain
    planned = plan(JOBS)
    submitted: dict[int, str] = {}  # job id -> expected status
    done_submitting = threading.Event()
    outcomes: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def submitter() -> None:
        try:
            for kind, source, expected in planned:
                with d.transaction() as session:
                    if kind == "sql":
                        job = submit_sql(
                            session, world.license_id, world.operator, source, docker_settings
                        )
                    else:
                        job = submit_notebook(
                            session, world.license_id, world.operator, source, docker_settings
                        )
                    assert job.status == "queued", (job.status, job.reasons)
                    submitted[job.id] = expected
        except BaseException as exc:  # noqa: BLE001  reported by the test thread
            errors.append(exc)
        finally:
            done_submitting.set()

    def worker(name: str) -> None:
        options = WorkerOptions(name)
        try:
            while True:
                finished = done_submitting.is_set()
                done = work_one(d.sessions, d.home, options, docker_settings)
                if done is not None:
                    outcomes.append(done)
                elif finished:
                    return
                else:
                    done_submitting.wait(options.poll_seconds)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=submitter)]
    threads += [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(WORKERS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        runner = docker_settings.runner()
        assert isinstance(runner, DockerRunner)
        runner.settle()
        runner.drain_pool()
        remove_leftovers(d.home.root)
    assert not errors, ["".join(traceback.format_exception(e)) for e in errors]  # where, too
    assert len(submitted) == JOBS
    assert sorted(job for job, _ in outcomes) == sorted(submitted)
    assert Counter(outcome for _, outcome in outcomes) == {"recorded": JOBS}
    wrong = {}
    with d.transaction() as session:
        for job_id, expected in submitted.items():
            job = get_job(session, job_id)
            failure = str(job.failure) if job.failure else ""
            if job.status != expected or (expected == "failed") != ("ZeroDivisionError" in failure):
                wrong[job_id] = (job.kind, job.status, failure, _log_tail(d.home.jobs, job_id))
            elif job.status == "awaiting_review":
                assert job.resources["backend"] == "docker"
    assert not wrong, wrong
    assert scope_containers(runner.client, runner.scope) == []


def _log_tail(jobs: Path, job_id: int) -> str:
    log = jobs / str(job_id) / "logs" / "sandbox.log"
    return log.read_text("utf-8", "replace")[-400:] if log.exists() else ""
