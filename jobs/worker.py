"""Workers: processes that claim queued jobs with a lease, run them, and report back.

Several workers, on one host or many, share one PostgreSQL. A claim is one
transaction: it requeues jobs whose lease expired, takes the oldest queued job
with `FOR UPDATE SKIP LOCKED` (two workers never wait on, or take, the same
row; on SQLite, BEGIN IMMEDIATE serializes claims instead), writes a lease with a
fresh token and moves the job to running (jobs.runner.start). A heartbeat thread
extends the lease while the job runs. The result is recorded only if the token
still matches under a row lock in the finishing transaction, so a worker that
lost its lease (paused, partitioned, presumed dead) discards what it made, and no
job reaches review twice.
"""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from audit_log import Actor
from core.db import READ_ONLY, utcnow
from core.failures import FailureKind, JobFailure
from core.home import Home
from jobs.broker_service import serving
from jobs.leases import JobLease
from jobs.lifecycle import transition
from jobs.records import Job, JobStatus
from jobs.runner import Verdict, fail_unexpectedly, judge_result, record, recorded, run, start
from jobs.settings import JobSettings
from sandbox.runner import SandboxResult, SandboxRun, execute

# A job whose lease was lost this many times fails instead of going round again.
MAX_ATTEMPTS = 3
# a result's write transaction, tried again when SQLite's busy timeout (service.db) ran out
# under a burst of other writers: the result was judged already and stays good
Sessions = Callable[[], Session]


@dataclass(frozen=True)
class WorkerOptions:
    name: str
    lease_seconds: int = 60
    poll_seconds: float = 1.0
    spark_master: str = "local[2]"


@dataclass
class Claim:
    """A job this worker holds: `run` is None when start() failed it (license gone)."""

    job_id: int
    token: str
    attempt: int
    kind: str
    engine: str
    spark_sql: str | None
    run: SandboxRun | None
    worker: str = ""


def requeue_expired(session: Session, worker: str) -> list[int]:
    """Running jobs whose lease ran out go back to the queue (or fail after MAX_ATTEMPTS)."""
    rows = session.execute(
        select(Job, JobLease)
        .join(JobLease, JobLease.job_id == Job.id)
        .where(Job.status == JobStatus.RUNNING, JobLease.expires_at < utcnow())
        .order_by(Job.id)
        .with_for_update(skip_locked=True)
    ).all()
    for job, lease in rows:
        details = {"reason": "lease expired", "worker": lease.worker, "attempt": lease.attempt}
        if lease.attempt >= MAX_ATTEMPTS:
            lost = f"lost_lease: {lease.attempt} workers lost this job; not retried"
            job.failure = JobFailure(FailureKind.RULE, lost)
            failed = {**details, "failure": job.failure}
            transition(session, job, JobStatus.FAILED, Actor.system(), failed)
            session.delete(lease)
        else:
            requeued = {**details, "noticed_by": worker}
            transition(session, job, JobStatus.QUEUED, Actor.system(), requeued)
            lease.token = ""  # whoever held it can no longer finish it
    return [job.id for job, _lease in rows]


def claim(
    sessions: Sessions,
    home: Home,
    options: WorkerOptions,
    settings: JobSettings,
    job_id: int | None = None,
) -> Claim | None:
    """Take the oldest queued job (or `job_id`) and start it, in one transaction."""
    with sessions() as session, session.begin():
        requeue_expired(session, options.name)
        # a notebook's child jobs are run by its broker, never by a worker
        queued = (Job.status == JobStatus.QUEUED, Job.parent_id.is_(None))
        query = select(Job).where(*queued).order_by(Job.id).limit(1)
        if job_id is not None:
            query = query.where(Job.id == job_id)
        job = session.scalars(query.with_for_update(skip_locked=True)).first()
        if job is None:
            return None
        lease = session.get(JobLease, job.id)
        attempt = lease.attempt + 1 if lease is not None else 1
        if lease is None:
            lease = JobLease(job_id=job.id)
            session.add(lease)
        lease.worker, lease.token, lease.attempt = options.name, secrets.token_hex(16), attempt
        lease.claimed_at = utcnow()
        lease.expires_at = lease.claimed_at + timedelta(seconds=options.lease_seconds)
        try:
            with session.begin_nested():  # a start that raises is undone, then recorded
                run = start(session, home, job, settings)
        except Exception as exc:  # noqa: BLE001  a poison job fails; the worker goes on
            job.failure = JobFailure(
                FailureKind.ERROR, f"start failed unexpectedly ({type(exc).__name__})"
            )
            transition(session, job, JobStatus.FAILED, Actor.system(), {"failure": job.failure})
            run = None
        if run is None:
            session.delete(lease)
        spark_sql = job.policy.get("spark_sql") if job.engine == "spark" else None
        return Claim(
            job.id, lease.token, attempt, job.kind, job.engine, spark_sql, run, options.name
        )


def renew(sessions: Sessions, held: Claim, lease_seconds: int) -> bool:
    """Extend the lease; False when it is no longer ours."""
    with sessions() as session, session.begin():
        result = session.execute(
            update(JobLease)
            .where(JobLease.job_id == held.job_id, JobLease.token == held.token)
            .values(expires_at=utcnow() + timedelta(seconds=lease_seconds))
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def complete(
    sessions: Sessions,
    home: Home,
    held: Claim,
    result: SandboxResult,
    settings: JobSettings,
    resources: dict[str, object],
) -> bool:
    """Judge the result (outputs, noise, the gate) in a session that only reads, then
    record it through jobs.runner.record in a short transaction if the lease is still
    ours: a slow gate holds no lock that other workers' claims wait on."""
    if not _holds(sessions, held):
        return False
    resources = {**resources, "worker": held.worker, "attempt": held.attempt}
    try:
        outcome = (result.outputs, result.failure)
        verdict = judge_result(sessions, home, held.job_id, held.run, outcome, settings, resources)
    except Exception:
        if not _holds(sessions, held):  # taken over meanwhile: its folder was started afresh
            return False
        raise
    try:
        return recorded(verdict, lambda: _record(sessions, home, held, verdict, resources))
    finally:
        verdict.discard()


def _record(
    sessions: Sessions, home: Home, held: Claim, verdict: Verdict, resources: dict[str, object]
) -> bool:
    """The verdict recorded in one short write transaction, if the lease is still ours."""
    with sessions() as session, session.begin():
        lease = session.scalars(
            select(JobLease).where(JobLease.job_id == held.job_id).with_for_update()
        ).first()
        if lease is None or lease.token != held.token:
            return False
        job = session.scalars(select(Job).where(Job.id == held.job_id).with_for_update()).one()
        if job.status != JobStatus.RUNNING:
            return False
        record(session, home, job, verdict, resources)
        session.delete(lease)
        return True


def _holds(sessions: Sessions, held: Claim) -> bool:
    """Whether the lease is still ours (read without a lock: `complete` checks again)."""
    with sessions() as session:
        session.connection(execution_options=READ_ONLY)
        token = session.scalar(select(JobLease.token).where(JobLease.job_id == held.job_id))
        return token == held.token


class Heartbeat(threading.Thread):
    """Renews a lease every third of its length until stopped or lost."""

    def __init__(self, sessions: Sessions, held: Claim, lease_seconds: int) -> None:
        super().__init__(name=f"lease-{held.job_id}", daemon=True)
        self.sessions, self.held, self.lease_seconds = sessions, held, lease_seconds
        self.stopped = threading.Event()
        self.lost = False

    def run(self) -> None:
        while not self.stopped.wait(max(self.lease_seconds / 3, 0.2)):
            try:
                if not renew(self.sessions, self.held, self.lease_seconds):
                    self.lost = True
                    return
            except Exception:  # noqa: BLE001  a database blip: try again next beat
                continue

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def run_claimed(held: Claim, settings: JobSettings, spark_master: str) -> SandboxResult:
    """Run a claimed job on its engine: the sandbox backend, or Spark for `spark` jobs."""
    assert held.run is not None
    if held.engine == "spark":
        from jobs.spark_engine import run_spark

        return run_spark(held.run, held.spark_sql, spark_master)
    try:
        return execute(settings.runner(), held.run)
    finally:  # a notebook's views are copies of store data: gone once the job is
        shutil.rmtree(held.run.work_dir / "views", ignore_errors=True)


def work_one(
    sessions: Sessions,
    home: Home,
    options: WorkerOptions,
    settings: JobSettings,
    job_id: int | None = None,
) -> tuple[int, str] | None:
    """Claim, run and report one job: (job id, outcome), or None if nothing was queued.

    The outcome is `recorded`, `discarded` (the lease was lost meanwhile), `failed to
    start` or `failed` (recording its result raised: the job is failed with the reason).
    """
    held = claim(sessions, home, options, settings, job_id)
    if held is None:
        return None
    if held.run is None:
        return held.job_id, "failed to start"
    beat = Heartbeat(sessions, held, options.lease_seconds)
    beat.start()
    try:  # renewed until the result is recorded: a slow gate keeps the lease too
        return held.job_id, _run_and_complete(sessions, home, options, settings, held, beat)
    finally:
        beat.stop()


def _run_and_complete(
    sessions: Sessions,
    home: Home,
    options: WorkerOptions,
    settings: JobSettings,
    held: Claim,
    beat: Heartbeat,
) -> str:
    """Run a claimed job and record its result; the outcome word of `work_one`."""
    assert held.run is not None
    try:  # a notebook's query() and fit() calls are served while it runs (jobs.broker)
        with serving(sessions, home, (held.job_id, held.kind), held.run, settings, run):
            result = run_claimed(held, settings, options.spark_master)
    except Exception as exc:  # noqa: BLE001  the engine broke, not the job: record it
        log = held.run.log_path
        broke = JobFailure(FailureKind.ERROR, f"{type(exc).__name__}: {exc}")
        result = SandboxResult(False, None, [], broke, log, 0.0)
    resources: dict[str, Any] = {
        "seconds": round(result.seconds, 3),
        "backend": "spark" if held.engine == "spark" else settings.runner().name,
        "exit_code": result.exit_code,
    }
    try:
        recorded = not beat.lost and complete(sessions, home, held, result, settings, resources)
    except Exception as exc:  # noqa: BLE001  a poison job fails; the worker goes on
        beat.stop()
        fail_unexpectedly(sessions, held.job_id, "gate", exc)
        with sessions() as session, session.begin():
            session.execute(delete(JobLease).where(JobLease.job_id == held.job_id))
        return "failed"
    return "recorded" if recorded else "discarded"


def work(
    sessions: Sessions,
    home: Home,
    options: WorkerOptions,
    settings: JobSettings,
    *,
    once: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    report: Callable[[int, str], None] = lambda _job, _outcome: None,
) -> int:
    """Claim and run jobs until told to stop (or after one job with `once`); returns the
    number of jobs handled."""
    handled = 0
    while not should_stop():
        try:
            done = work_one(sessions, home, options, settings)
        except Exception:  # noqa: BLE001  the database or host blinked: poll again
            done = None
            if once:
                raise
        if done is not None:
            handled += 1
            report(*done)
        if once:
            break
        if done is None:
            time.sleep(options.poll_seconds)
    return handled


def worker_name(given: str | None) -> str:
    """A worker's name in leases and the log: given, or host:pid."""
    if given:
        return given
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


__all__ = [
    "Claim",
    "Heartbeat",
    "WorkerOptions",
    "claim",
    "complete",
    "renew",
    "requeue_expired",
    "work",
    "work_one",
    "worker_name",
]
