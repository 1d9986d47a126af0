"""The privacy-budget ledger: every ε and δ charged to a license, kept in the database.

A licence's `epsilon_spent` and `delta_spent` and the sums of its `BudgetCharge` rows
must always agree;
`ledger_balance` and `unbalanced_ledgers` let a verifier check that they do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from audit_log import Actor, AuditAction, append
from core.db import Base, utcnow
from core.errors import BudgetExhausted
from operators.licenses import get_license
from operators.records import License
from policies.budget import DELTA_SLACK, TOLERANCE


class BudgetCharge(Base):
    __tablename__ = "budget_charges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id"), nullable=False, index=True)
    job_id: Mapped[str] = mapped_column(String(40), nullable=False)
    epsilon: Mapped[float] = mapped_column(Float, nullable=False)
    # δ of the release (partition selection in the DP regime); composes by addition too
    delta: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


def charge(
    session: Session,
    license: License,
    job_id: str,
    epsilon: float,
    actor: Actor,
    delta: float = 0.0,
) -> None:
    """Charge ε and δ before a query runs; refuse (and change nothing) if either would
    overspend its budget.

    The check and the spend of both are one conditional UPDATE, so no two transactions
    can both spend the last of a budget, and ε is never charged without its δ; the
    charge row and its audit entry follow in the caller's transaction and commit with
    it or not at all. `license` is refreshed.

    Call it after the transaction's first audit entry, as `submit_sql` does: on
    PostgreSQL every writer then takes the audit lock before the licence row, and
    two charges cannot deadlock.
    """
    if epsilon <= 0 and delta <= 0:
        return
    # On PostgreSQL (READ COMMITTED) the UPDATE takes the row lock, waits for any
    # transaction holding it, then re-evaluates the WHERE on the committed row: a
    # concurrent charge is always seen, never overwritten. SQLite serializes writers
    # with BEGIN IMMEDIATE (service.db). Never read-compute-write this in Python; and
    # the session's copy is refreshed from the row, not evaluated from stale values.
    spend = (
        update(License)
        .where(
            License.id == license.id,
            License.epsilon_spent + epsilon <= License.epsilon_total + TOLERANCE,
            # δ is tiny (1e-6): its slack is relative, not TOLERANCE's absolute 1e-12
            License.delta_spent + delta <= License.delta_total * (1 + DELTA_SLACK),
        )
        .values(
            epsilon_spent=License.epsilon_spent + epsilon,
            delta_spent=License.delta_spent + delta,
        )
        .execution_options(synchronize_session=False)
    )
    updated = session.execute(spend).rowcount  # type: ignore[attr-defined]
    session.refresh(license, ["epsilon_spent", "epsilon_total", "delta_spent", "delta_total"])
    if updated != 1:
        raise _refusal(license, epsilon, delta)
    session.add(BudgetCharge(license_id=license.id, job_id=job_id, epsilon=epsilon, delta=delta))
    append(
        session,
        actor,
        AuditAction.BUDGET_CHARGED,
        f"license:{license.id}",
        {
            "job": job_id,
            "epsilon": epsilon,
            "delta": delta,
            "spent": license.epsilon_spent,
            "total": license.epsilon_total,
            "delta_spent": license.delta_spent,
            "delta_total": license.delta_total,
        },
    )


def _refusal(license: License, epsilon: float, delta: float) -> BudgetExhausted:
    """Why the charge was refused, read from the refreshed row: ε first, else δ."""
    remaining = license.epsilon_total - license.epsilon_spent
    if epsilon > remaining + TOLERANCE:
        return BudgetExhausted.coded(
            "job_epsilon_short", license_id=license.id, remaining=remaining, epsilon=epsilon
        )
    left = max(0.0, license.delta_total - license.delta_spent)
    return BudgetExhausted.coded("job_delta_short", license_id=license.id, left=left, delta=delta)


@dataclass(frozen=True)
class LedgerBalance:
    """A licence's ε as its row says (`spent`) and as its charges add up (`charged`);
    likewise its δ (`delta_spent`, `delta_charged`)."""

    license_id: int
    spent: float
    charged: float
    delta_spent: float = 0.0
    delta_charged: float = 0.0

    @property
    def discrepancy(self) -> float:
        """ε on the licence that no charge accounts for (negative: charges it forgot)."""
        return self.spent - self.charged

    @property
    def consistent(self) -> bool:
        # the two sums add the same floats in different orders, so allow rounding
        return math.isclose(self.spent, self.charged, rel_tol=1e-9, abs_tol=1e-9) and (
            math.isclose(self.delta_spent, self.delta_charged, rel_tol=1e-9, abs_tol=1e-18)
        )


def _balances(session: Session, license_id: int | None = None) -> list[LedgerBalance]:
    charged = (
        select(
            BudgetCharge.license_id,
            func.sum(BudgetCharge.epsilon).label("total"),
            func.sum(BudgetCharge.delta).label("delta"),
        )
        .group_by(BudgetCharge.license_id)
        .subquery()
    )
    query = (
        select(
            License.id,
            License.epsilon_spent,
            func.coalesce(charged.c.total, 0.0),
            License.delta_spent,
            func.coalesce(charged.c.delta, 0.0),
        )
        .outerjoin(charged, charged.c.license_id == License.id)
        .order_by(License.id)
    )
    if license_id is not None:
        query = query.where(License.id == license_id)
    return [LedgerBalance(*row) for row in session.execute(query)]


def ledger_balance(session: Session, license_id: int) -> LedgerBalance:
    """One licence's balance, read from the database (not from objects in the session)."""
    get_license(session, license_id)  # NotFound, worded once, for an unknown id
    return _balances(session, license_id)[0]


def ledger_consistent(session: Session, license_id: int) -> bool:
    """Whether the licence's `epsilon_spent` and `delta_spent` equal its charges' sums."""
    return ledger_balance(session, license_id).consistent


def unbalanced_ledgers(session: Session) -> list[LedgerBalance]:
    """Every licence whose spent ε or δ and charges disagree (empty when all is well)."""
    return [b for b in _balances(session) if not b.consistent]
