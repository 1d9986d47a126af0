"""The privacy-budget ledger: every ε charged to a license, kept in the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from audit_log import Actor, AuditAction, append
from core.db import Base, utcnow
from core.errors import BudgetExhausted
from operators.records import License


class BudgetCharge(Base):
    __tablename__ = "budget_charges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id"), nullable=False, index=True)
    job_id: Mapped[str] = mapped_column(String(40), nullable=False)
    epsilon: Mapped[float] = mapped_column(Float, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


def charge(session: Session, license: License, job_id: str, epsilon: float, actor: Actor) -> None:
    """Charge ε before a query runs; refuse (and change nothing) if it would overspend."""
    if epsilon <= 0:
        return
    remaining = license.epsilon_total - license.epsilon_spent
    if epsilon > remaining + 1e-12:
        raise BudgetExhausted(
            f"license {license.id} has ε={remaining:.3f} left, this query needs ε={epsilon:.3f}; "
            "ask the data authority for more budget or reuse an earlier release"
        )
    license.epsilon_spent += epsilon
    session.add(BudgetCharge(license_id=license.id, job_id=job_id, epsilon=epsilon))
    append(
        session,
        actor,
        AuditAction.BUDGET_CHARGED,
        f"license:{license.id}",
        {
            "job": job_id,
            "epsilon": epsilon,
            "spent": license.epsilon_spent,
            "total": license.epsilon_total,
        },
    )
