"""Output review (出域审核): one reviewer for L1/L2 outputs, two different ones for L3.

Reviewers work for the domain, never for the submitting company; blocked outputs
cannot be approved; a denial needs a reason; the last approval needed releases the
output. Custom outputs (files the gate cannot check) leave only as an exception:
two different reviewers each approve with `exception=True` and a written
justification, and the release records it in the audit log.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction, append
from core.errors import Conflict, InvalidInput, PermissionDenied, Step
from core.home import Home
from gate.populations import forget
from jobs.lifecycle import transition
from jobs.queries import get_job
from jobs.records import Job, JobStatus
from operators.records import User
from products.records import Review
from products.release import ExceptionGrant, release_job

__all__ = ["EXCEPTION_REVIEWERS", "REVIEWER_ROLES", "review", "review_queue", "reviews_of"]

REVIEWER_ROLES = ("reviewer", "authority")
EXCEPTION_REVIEWERS = 2
MIN_JUSTIFICATION = 10  # characters: a sentence, not "ok"
#: the audit action of each decision a reviewer may record
DECISION_ACTIONS = {"approve": AuditAction.REVIEW_APPROVE, "deny": AuditAction.REVIEW_DENY}


def reviews_of(session: Session, job_id: int) -> list[Review]:
    return list(session.scalars(select(Review).where(Review.job_id == job_id).order_by(Review.id)))


def review_queue(session: Session) -> list[Job]:
    return list(
        session.scalars(select(Job).where(Job.status == JobStatus.AWAITING_REVIEW).order_by(Job.id))
    )


def may_review(reviewer: User, job: Job) -> None:
    """Refuse a reviewer who is not domain staff or who works for the submitting company."""
    if reviewer.role not in REVIEWER_ROLES:
        raise PermissionDenied.coded("not_a_reviewer", name=reviewer.name, role=str(reviewer.role))
    if reviewer.operator_id is not None and reviewer.operator_id == job.operator_id:
        raise PermissionDenied.coded("own_company_review")


def custom_outputs(job: Job) -> list[str]:
    return list(job.gate.get("custom", []))


def _check_decision(job: Job, decision: str, reason: str, exception: bool) -> None:
    if decision not in DECISION_ACTIONS:
        raise InvalidInput.coded("product_review_decision", decision=decision)
    if decision == "deny" and not reason.strip():
        raise InvalidInput.coded(
            "product_denial_reason",
            suggestion="give a reason",
            step=Step.GIVE_REASON,
        )
    custom = custom_outputs(job)
    if exception:
        if decision != "approve":
            raise InvalidInput.coded(
                "product_exception_approval",
                suggestion="deny without marking an exception",
                step=Step.DENY_PLAINLY,
            )
        if not custom:
            raise InvalidInput.coded("product_no_custom_outputs", job_id=job.id)
        if len(reason.strip()) < MIN_JUSTIFICATION:
            raise InvalidInput.coded(
                "product_exception_justification",
                suggestion=f"give a reason of at least {MIN_JUSTIFICATION} characters",
                step=Step.GIVE_REASON,
            )
    elif decision == "approve" and custom and len(custom) == len(job.outputs):
        raise InvalidInput.coded(
            "product_only_custom_outputs",
            job_id=job.id,
            outputs=", ".join(custom),
            suggestion="approve them as an exception with a written justification, or deny",
            step=Step.APPROVE_AS_EXCEPTION,
        )


def review(
    session: Session,
    home: Home,
    job_id: int,
    reviewer: User,
    decision: str,
    reason: str = "",
    exception: bool = False,
) -> Job:
    """Record one reviewer's decision; release when enough approvals are in."""
    job = get_job(session, job_id)
    may_review(reviewer, job)
    if job.status == JobStatus.BLOCKED:
        raise Conflict.coded(
            "job_gate_blocked",
            job_id=job_id,
            suggestion="read the gate's findings",
            step=Step.SHOW_FINDINGS,
        )
    if job.status != JobStatus.AWAITING_REVIEW:
        raise Conflict.coded("job_not_awaiting_review", job_id=job_id, status=str(job.status))
    if any(r.reviewer_id == reviewer.id for r in reviews_of(session, job_id)):
        raise Conflict.coded("already_reviewed", reviewer=reviewer.name, job_id=job_id)
    _check_decision(job, decision, reason, exception)
    actor = Actor(reviewer.name, reviewer.role)
    session.add(
        Review(
            job_id=job_id,
            reviewer_id=reviewer.id,
            reviewer=reviewer.name,
            decision=decision,
            reason=reason,
            exception=exception,
        )
    )
    session.flush()
    details = {"reason": reason, "exception": exception}
    append(session, actor, DECISION_ACTIONS[decision], f"job:{job_id}", details)
    if decision == "deny":
        transition(session, job, JobStatus.REJECTED, actor, {"reason": reason})
        forget(session, job_id)  # nothing of it leaves, so nothing can difference it
        return job
    approvals = [r for r in reviews_of(session, job_id) if r.decision == "approve"]
    exceptions = [r for r in approvals if r.exception]
    needed = job.required_reviews
    if exceptions:
        needed = max(needed, EXCEPTION_REVIEWERS)
    if len(approvals) >= needed:
        grant = None
        if len(exceptions) >= EXCEPTION_REVIEWERS:
            grant = ExceptionGrant([r.reviewer for r in exceptions], [r.reason for r in exceptions])
        release_job(session, home, job, [r.reviewer for r in approvals], actor, grant)
    return job
