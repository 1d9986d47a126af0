"""Workers on PostgreSQL: SKIP LOCKED claims, leases, and a killed worker's job finishing
elsewhere exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from sqlalchemy import select

from audit_log import AuditEntry, verify_store
from jobs.leases import JobLease
from jobs.records import Job
from jobs.submit import submit_sql
from jobs.worker import WorkerOptions, claim, complete, run_claimed, work_one
from operators.accounts import get_user
from products.release import release_of
from products.review import review
from tests.conftest import World
from tests.jobs.conftest import job_history, lose_a_lease

# workers run their jobs in bubblewrap (pg_settings)
pytestmark = pytest.mark.sandbox("bubblewrap")

COUNT_BY_DISTRICT = (
    "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district ORDER BY district"
)
# How long the test waits for a worker process before giving up (never asserted on).
PATIENCE = 180


def _submit(world: World, sql: str = COUNT_BY_DISTRICT) -> int:
    with world.domain.transaction() as session:
        job = submit_sql(
            session, world.license_id, world.operator, sql, world.domain.settings.job_settings()
        )
        assert job.status == "queued"
        return job.id


def _status(world: World, job_id: int) -> str:
    with world.domain.transaction() as session:
        return session.get(Job, job_id).status  # type: ignore[union-attr]


def test_a_locked_job_is_skipped_not_waited_for(pg_world: World) -> None:
    d = pg_world.domain
    first, second = _submit(pg_world), _submit(pg_world)
    options = WorkerOptions("b", lease_seconds=30)
    with d.sessions() as other, other.begin():  # another worker is mid-claim on `first`
        other.scalars(select(Job).where(Job.id == first).with_for_update()).one()
        held = claim(d.sessions, d.home, options, d.settings.job_settings())
    assert held is not None and held.job_id == second
    assert complete(
        d.sessions,
        d.home,
        held,
        run_claimed(held, d.settings.job_settings(), "local[1]"),
        d.settings.job_settings(),
        {},
    )
    assert _status(pg_world, second) == "awaiting_review"
    assert work_one(d.sessions, d.home, WorkerOptions("a"), d.settings.job_settings()) == (
        first,
        "recorded",
    )


def test_a_worker_that_lost_its_lease_discards_its_result(pg_world: World) -> None:
    lose_a_lease(pg_world, pg_world.domain.settings.job_settings(), _submit(pg_world))


SLOW_WORKER = textwrap.dedent(
    """
    import sys, time
    import jobs.worker as worker
    real = worker.execute
    def slow(runner, run):  # the sandbox run takes far longer than the lease
        time.sleep(3600)
        return real(runner, run)
    worker.execute = slow
    from service.cli import app
    app(["worker", "--lease-seconds", "2", "--id", "doomed"])
    """
)


def test_a_killed_workers_job_completes_elsewhere_exactly_once(pg_world: World) -> None:
    d = pg_world.domain
    job_id = _submit(pg_world)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    doomed = subprocess.Popen([sys.executable, "-c", SLOW_WORKER], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + PATIENCE
        while _status(pg_world, job_id) != "running" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _status(pg_world, job_id) == "running"
    finally:
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait()
    deadline = time.monotonic() + PATIENCE
    while _status(pg_world, job_id) == "running" and time.monotonic() < deadline:
        rescuer = [sys.executable, "-m", "service.cli", "worker", "--once", "--id", "rescuer"]
        subprocess.run(rescuer, env=env, check=True, capture_output=True, timeout=PATIENCE)
    assert _status(pg_world, job_id) == "awaiting_review"
    with d.transaction() as session:
        reviewer = get_user(session, pg_world.reviewers[0])
        review(session, d.home, job_id, reviewer, "approve", "ok")
    with d.transaction() as session:
        assert release_of(session, job_id) is not None
        assert session.get(Job, job_id).status == "released"  # type: ignore[union-attr]
        assert session.get(JobLease, job_id) is None
        assert verify_store(session).ok
    actions = job_history(pg_world, job_id)
    assert actions.count("job.awaiting_review") == 1
    assert actions.count("job.released") == 1
    assert actions.count("job.queued") == 1  # the expired lease, recorded
    with d.transaction() as session:
        requeued = session.scalars(
            select(AuditEntry).where(
                AuditEntry.subject == f"job:{job_id}", AuditEntry.action == "job.queued"
            )
        ).one()
        assert requeued.details["worker"] == "doomed"
