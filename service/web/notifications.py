"""What is waiting for the person looking at the console: work to do, decisions made.

Shown in the page header on every page, so a reviewer learns that outputs wait and an
operator that a reviewer decided, without watching a queue. Computed per request from
the records (a few indexed counts), so nothing is stored and nothing goes stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import utcnow
from jobs.records import Job, JobStatus
from operators.accounts import Principal, get_user
from operators.licenses import list_licenses
from operators.records import LicenseStatus
from products.records import Review
from products.review_view import queue_items

__all__ = ["Notice", "notices_for"]

RECENT = timedelta(days=1)


@dataclass(frozen=True)
class Notice:
    """One line in the header: `text` is an English message key with a {n} count."""

    text: str
    count: int
    href: str


def _reviewer(session: Session, who: Principal) -> list[Notice]:
    user = get_user(session, who.name) if who.role != "admin" else None
    waiting = len(queue_items(session, user))
    return [Notice("{n} outputs wait for your review", waiting, "/console/review")]


def _authority(session: Session) -> list[Notice]:
    pending = len(list_licenses(session, status=LicenseStatus.PENDING))
    return [Notice("{n} licence applications wait for a decision", pending, "/console/licenses")]


def _operator(session: Session, who: Principal) -> list[Notice]:
    mine = Job.operator_id == who.operator_id
    waiting = session.scalar(
        select(func.count(Job.id)).where(mine, Job.status == JobStatus.AWAITING_REVIEW)
    )
    decided = session.scalar(
        select(func.count(Review.id))
        .join(Job, Job.id == Review.job_id)
        .where(mine, Review.at >= utcnow() - RECENT)
    )
    return [
        Notice("{n} reviewer decisions on your jobs today", int(decided or 0), "/console/jobs"),
        Notice("{n} of your jobs wait for review", int(waiting or 0), "/console/jobs"),
    ]


def notices_for(session: Session, who: Principal) -> list[Notice]:
    """The non-empty notices for this person's role."""
    found: list[Notice] = []
    if who.role in ("reviewer", "authority", "admin"):
        found += _reviewer(session, who)
    if who.role in ("authority", "admin"):
        found += _authority(session)
    if who.role == "operator" and who.operator_id is not None:
        found += _operator(session, who)
    return [n for n in found if n.count > 0]
