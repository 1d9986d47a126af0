"""Full verifications of the live log run in the background: each one's record (who
started it, how far it got, its result), kept in the database so any server process,
and a restarted one, answers from the same records.

One runs at a time per domain: asking for another while one runs answers with that
one. A result that finds a fault raises `alert.verification_failed` in the same
transaction that records it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from audit_log.chain import record_failed_verification
from audit_log.records import AuditEntry
from audit_log.verify import Verification
from core.db import Base, utcnow
from core.errors import NotFound
from core.runs import BackgroundRun, RunState, live_runs, touch_run

__all__ = [
    "VerificationRun",
    "begin_verification",
    "fail_verification",
    "finish_verification",
    "get_verification",
    "latest_verification",
    "verification_progress",
]


class VerificationRun(BackgroundRun, Base):
    __tablename__ = "audit_verifications"

    source: Mapped[str] = mapped_column(String(20), nullable=False)  # api | console
    checked: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    problem: Mapped[str | None] = mapped_column(Text, nullable=True)  # why it has no result

    @property
    def ok(self) -> bool | None:
        """The result's verdict; None while running or if it ended without one."""
        return None if self.result is None else bool(self.result["ok"])


def begin_verification(
    session: Session, run_id: str, started_by: str, source: str
) -> tuple[VerificationRun, bool]:
    """The new run's record, and True; or the one already running, and False."""
    live = live_runs(session, VerificationRun)
    if live:
        return live[0], False
    total = int(session.scalar(select(func.max(AuditEntry.seq))) or 0)
    run = VerificationRun(
        id=run_id, started_by=started_by, source=source, state=RunState.RUNNING, total=total
    )
    session.add(run)
    session.flush()
    return run, True


def verification_progress(session: Session, run_id: str, checked: int) -> None:
    touch_run(session, VerificationRun, run_id, checked=checked)


def finish_verification(session: Session, run_id: str, result: Verification) -> None:
    """Record the result; a fault found is raised as an alert in the same transaction."""
    run = get_verification(session, run_id)
    run.state, run.finished_at = RunState.DONE, utcnow()
    run.checked = run.total = result.entries
    run.result = result.to_dict()
    if not result.ok:
        record_failed_verification(session, result.first_bad_seq, result.problem, run.source)


def fail_verification(session: Session, run_id: str, problem: str) -> None:
    """The run stopped without a result (the check itself failed, not the log)."""
    run = get_verification(session, run_id)
    run.state, run.finished_at, run.problem = RunState.FAILED, utcnow(), problem


def get_verification(session: Session, run_id: str) -> VerificationRun:
    run = session.get(VerificationRun, run_id)
    if run is None:
        raise NotFound.coded("verification_missing", run_id=run_id)
    return run


def latest_verification(session: Session, with_result: bool = False) -> VerificationRun | None:
    """The latest started run; with `with_result`, the latest that finished with one."""
    query = select(VerificationRun)
    if with_result:
        query = query.where(VerificationRun.state == RunState.DONE)
    latest = query.order_by(VerificationRun.started_at.desc(), VerificationRun.id.desc())
    return session.scalars(latest.limit(1)).first()
