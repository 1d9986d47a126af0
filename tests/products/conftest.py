"""Helpers for the gate, review and release tests: run jobs, decide, fake notebook outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from jobs.queries import get_job
from jobs.records import Job
from jobs.runner import finish, run, start
from jobs.submit import submit_sql
from operators.accounts import get_user
from products.review import review
from tests.conftest import World

L1_QUERY = "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district"
L3_QUERY = "SELECT district, AVG(water_fee) AS f FROM enterprise_utilities GROUP BY district"


def ran(world: World, sql: str) -> int:
    """Submit and run one SQL job through the real sandbox; return its id."""
    settings = world.domain.settings.job_settings()
    with world.domain.transaction() as session:
        job_id = submit_sql(session, world.license_id, world.operator, sql, settings).id
    run(world.domain.sessions, world.domain.home, job_id, settings)
    return job_id


def decide(
    world: World,
    job_id: int,
    who: str,
    decision: str = "approve",
    reason: str = "checks passed",
    exception: bool = False,
) -> str:
    with world.domain.transaction() as session:
        user = get_user(session, who)
        return review(session, world.domain.home, job_id, user, decision, reason, exception).status


def job_of(world: World, job_id: int) -> Job:
    with world.domain.transaction() as session:
        job = get_job(session, job_id)
        session.expunge(job)
        return job


def sandbox_result(world: World, job_id: int) -> Path:
    return world.domain.home.jobs / str(job_id) / "out" / "result.parquet"


def with_files(world: World, sql: str, files: dict[str, bytes | pd.DataFrame], folder: Path) -> int:
    """A job whose /out held the SQL result plus `files`, as a notebook's would.

    The SQL runs once in the sandbox; a second job with the same SQL is then
    finished with that result and the extra files, through the real gate.
    """
    first = ran(world, sql)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [Path(shutil.copy(sandbox_result(world, first), folder / "result.parquet"))]
    for name, content in files.items():
        path = folder / name
        if isinstance(content, pd.DataFrame):
            content.to_parquet(path) if path.suffix == ".parquet" else content.to_csv(path)
        else:
            path.write_bytes(content)
        paths.append(path)
    settings = world.domain.settings.job_settings()
    home = world.domain.home
    with world.domain.transaction() as session:
        job_id = submit_sql(session, world.license_id, world.operator, sql, settings).id
    with world.domain.transaction() as session:
        start(session, home, get_job(session, job_id))
    with world.domain.transaction() as session:
        finish(session, home, get_job(session, job_id), paths, None, settings, {})  # type: ignore[arg-type]
    with world.domain.transaction() as session:  # the first job leaves the queue
        first_job = get_job(session, first)
        if first_job.status == "awaiting_review":
            review(session, home, first, get_user(session, "wang"), "deny", "duplicate run")
    return job_id
