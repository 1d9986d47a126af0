"""The job state machine: every status change goes through `transition`, with its audit entry.

(submit) ──▶ denied
(submit) ──▶ queued ──▶ running ──▶ failed | blocked | awaiting_review
awaiting_review ──▶ released | rejected
queued | running ──▶ failed   (license revoked or expired meanwhile)
running ──▶ queued   (a worker's lease expired: sandbox.worker)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from audit_log import Actor, append
from core.db import utcnow
from core.errors import Conflict
from jobs.records import Job

STATUSES = (
    "denied",
    "queued",
    "running",
    "failed",
    "blocked",
    "awaiting_review",
    "released",
    "rejected",
)
TRANSITIONS: dict[str, set[str]] = {
    "queued": {"running", "failed"},
    "running": {"failed", "blocked", "awaiting_review", "queued"},
    "awaiting_review": {"released", "rejected"},
}


def transition(
    session: Session, job: Job, to: str, actor: Actor, details: dict[str, Any] | None = None
) -> None:
    """Move a job to `to` and record it, in the caller's transaction."""
    if to not in TRANSITIONS.get(job.status, set()):
        raise Conflict(f"job {job.id} is {job.status} and cannot become {to}")
    previous, job.status = job.status, to
    if to == "running":
        job.started_at = utcnow()
    if to in ("failed", "blocked", "awaiting_review", "released", "rejected"):
        job.finished_at = job.finished_at or utcnow()
    append(session, actor, f"job.{to}", f"job:{job.id}", {"from": previous, **(details or {})})
