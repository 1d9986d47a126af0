"""The job state machine: every status change goes through `transition`, with its audit entry.

(submit) ──▶ denied
(submit) ──▶ queued ──▶ running ──▶ failed | blocked | awaiting_review
awaiting_review ──▶ released | rejected
queued | running ──▶ failed   (license revoked or expired meanwhile)
running ──▶ queued   (a worker's lease expired: jobs.worker)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction, append
from core.db import utcnow
from core.errors import Conflict
from jobs.records import Job, JobStatus

TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.FAILED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.FAILED, JobStatus.BLOCKED, JobStatus.AWAITING_REVIEW, JobStatus.QUEUED}
    ),
    JobStatus.AWAITING_REVIEW: frozenset({JobStatus.RELEASED, JobStatus.REJECTED}),
}
#: the audit action each move records, by the status a job moves into
ENTERED: dict[JobStatus, AuditAction] = {
    JobStatus.QUEUED: AuditAction.JOB_QUEUED,
    JobStatus.RUNNING: AuditAction.JOB_RUNNING,
    JobStatus.FAILED: AuditAction.JOB_FAILED,
    JobStatus.BLOCKED: AuditAction.JOB_BLOCKED,
    JobStatus.AWAITING_REVIEW: AuditAction.JOB_AWAITING_REVIEW,
    JobStatus.RELEASED: AuditAction.JOB_RELEASED,
    JobStatus.REJECTED: AuditAction.JOB_REJECTED,
}
#: statuses that end a run (a job may still move on from awaiting_review)
FINISHED = frozenset(
    {
        JobStatus.FAILED,
        JobStatus.BLOCKED,
        JobStatus.AWAITING_REVIEW,
        JobStatus.RELEASED,
        JobStatus.REJECTED,
    }
)


def transition(
    session: Session,
    job: Job,
    to: JobStatus,
    actor: Actor,
    details: dict[str, Any] | None = None,
) -> None:
    """Move a job to `to` and record it, in the caller's transaction."""
    to = JobStatus(to)  # a plain string from an untyped caller must still name a status
    if to not in TRANSITIONS.get(job.status, frozenset()):
        raise Conflict.coded("job_transition", job_id=job.id, status=str(job.status), to=str(to))
    previous, job.status = job.status, to
    if to == JobStatus.RUNNING:
        job.started_at = utcnow()
    if to in FINISHED:
        job.finished_at = job.finished_at or utcnow()
    append(session, actor, ENTERED[to], f"job:{job.id}", {"from": previous, **(details or {})})
