"""Output review (出域审核): one reviewer for L1/L2 outputs, two different ones for L3.

Reviewers work for the domain, never for the submitting company; blocked outputs
cannot be approved; the last approval needed releases the output.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import Actor, append
from core.errors import Conflict, InvalidInput, PermissionDenied
from core.home import Home
from operators.records import User
from products.records import Review
from products.release import release_job
from sandbox.jobs import get_job
from sandbox.lifecycle import transition
from sandbox.records import Job

REVIEWER_ROLES = ("reviewer", "authority")


def reviews_of(session: Session, job_id: int) -> list[Review]:
    return list(session.scalars(select(Review).where(Review.job_id == job_id).order_by(Review.id)))


def review_queue(session: Session) -> list[Job]:
    return list(
        session.scalars(select(Job).where(Job.status == "awaiting_review").order_by(Job.id))
    )


def review(
    session: Session, home: Home, job_id: int, reviewer: User, decision: str, reason: str = ""
) -> Job:
    """Record one reviewer's decision; release when enough approvals are in."""
    if decision not in ("approve", "deny"):
        raise InvalidInput(f"decision must be approve or deny, not {decision!r}")
    if reviewer.role not in REVIEWER_ROLES:
        raise PermissionDenied(f"user {reviewer.name!r} is a {reviewer.role}, not a reviewer")
    job = get_job(session, job_id)
    if reviewer.operator_id is not None and reviewer.operator_id == job.operator_id:
        raise PermissionDenied("a reviewer may not review their own company's output")
    if job.status == "blocked":
        raise Conflict(
            f"job {job_id} was blocked by the output gate and cannot be approved; "
            "see `sluice jobs show` for the findings"
        )
    if job.status != "awaiting_review":
        raise Conflict(f"job {job_id} is {job.status}, not awaiting review")
    if any(r.reviewer_id == reviewer.id for r in reviews_of(session, job_id)):
        raise Conflict(f"{reviewer.name} has already reviewed job {job_id}; another reviewer must")
    if decision == "deny" and not reason.strip():
        raise InvalidInput("a denial needs --reason so the operator knows what to change")
    actor = Actor(reviewer.name, reviewer.role)
    session.add(
        Review(
            job_id=job_id,
            reviewer_id=reviewer.id,
            reviewer=reviewer.name,
            decision=decision,
            reason=reason,
        )
    )
    session.flush()
    append(session, actor, f"review.{decision}", f"job:{job_id}", {"reason": reason})
    if decision == "deny":
        transition(session, job, "rejected", actor, {"reason": reason})
        return job
    approvals = [r for r in reviews_of(session, job_id) if r.decision == "approve"]
    if len(approvals) >= job.required_reviews:
        release_job(session, home, job, [r.reviewer for r in approvals], actor)
    return job
