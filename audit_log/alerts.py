"""Alerts: small rules over the log, raised as `alert.<rule>` entries for regulators.

Each rule is a pure function of the new entry and a read-only `History` of the
log before it, and returns an `Alert` or None. `append` runs them in the same
transaction as the entry; entries that are alerts themselves are never ruled on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol, TypeGuard

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit_log.actions import AuditAction, alert_action, registered
from audit_log.index import IndexTerms
from audit_log.records import AuditEntry
from core.failures import FailureKind, JobFailure

DENIALS_PER_HOUR = 5
BUDGET_SHARE = 0.8
TERM_WARNING_DAYS = 14


@dataclass(frozen=True)
class Event:
    """The entry a rule looks at, with its index terms."""

    seq: int
    at: datetime
    action: str
    subject: str
    details: dict[str, Any]
    operator_id: int | None
    license_id: int | None


@dataclass(frozen=True)
class Alert:
    rule: str
    details: dict[str, Any]


class History(Protocol):
    """What rules may ask about the log before the entry at hand."""

    def count_since(
        self, action: AuditAction, operator_id: int, since: datetime, before: int
    ) -> int: ...

    def previous(self, action: AuditAction, operator_id: int, before: int) -> Event | None: ...

    def alerted(self, rule: str, license_id: int, term: str) -> bool: ...


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _owner(event: Event) -> dict[str, Any]:
    return {"operator_id": event.operator_id, "license": event.license_id, "entry": event.seq}


def repeated_denials(event: Event, history: History) -> Alert | None:
    if event.action != AuditAction.JOB_DENIED or event.operator_id is None:
        return None
    since = event.at - timedelta(hours=1)
    count = history.count_since(AuditAction.JOB_DENIED, event.operator_id, since, event.seq) + 1
    if count % DENIALS_PER_HOUR:
        return None
    return Alert("repeated_denials", {**_owner(event), "denials_in_last_hour": count})


def near_identical_query(event: Event, history: History) -> Alert | None:
    sql = event.details.get("rewritten_sql")
    submitted = event.action == AuditAction.JOB_SUBMITTED
    if not submitted or event.operator_id is None or not isinstance(sql, str):
        return None
    earlier = history.previous(AuditAction.JOB_SUBMITTED, event.operator_id, event.seq)
    earlier_sql = earlier.details.get("rewritten_sql") if earlier else None
    if earlier is None or not isinstance(earlier_sql, str):
        return None
    # here, not at the top: sqlglot then loads with a job, not with every user of the log
    from audit_log.similar import one_filter_literal_changed

    change = one_filter_literal_changed(earlier_sql, sql)
    if change is None:
        return None
    return Alert(
        "near_identical_query",
        {
            **_owner(event),
            "job": event.subject,
            "previous_job": earlier.subject,
            "literal_before": change.before,
            "literal_after": change.after,
        },
    )


def budget_high(event: Event, _history: History) -> Alert | None:
    spent, total, epsilon = (event.details.get(k) for k in ("spent", "total", "epsilon"))
    if event.action != AuditAction.BUDGET_CHARGED:
        return None
    if not (_number(spent) and _number(total) and _number(epsilon)) or not total:
        return None
    line = BUDGET_SHARE * total
    if not spent - epsilon <= line < spent:  # fire once, when the charge crosses the line
        return None
    return Alert(
        "budget_high", {**_owner(event), "spent": spent, "total": total, "share": spent / total}
    )


def over_limits(event: Event, _history: History) -> Alert | None:
    failure = event.details.get("failure")
    if event.action != AuditAction.JOB_FAILED or not isinstance(failure, str):
        return None
    if JobFailure.parse(failure).kind is not FailureKind.LIMIT:
        return None
    return Alert("over_limits", {**_owner(event), "job": event.subject, "failure": failure})


def license_term(event: Event, history: History) -> Alert | None:
    until = event.details.get("license_valid_until")
    submitted = event.action == AuditAction.JOB_SUBMITTED
    if not submitted or event.license_id is None or not isinstance(until, str):
        return None
    try:
        days_left = (date.fromisoformat(until) - event.at.date()).days
    except ValueError:
        return None
    if days_left > TERM_WARNING_DAYS:
        return None
    term = "past" if days_left < 0 else "near"
    if history.alerted("license_term", event.license_id, term):
        return None
    return Alert(
        "license_term",
        {**_owner(event), "valid_until": until, "days_left": days_left, "term": term},
    )


Rule = Callable[[Event, History], Alert | None]
#: which rules look at which action (so most appends run none)
RULES: dict[AuditAction, tuple[Rule, ...]] = {
    AuditAction.JOB_DENIED: (repeated_denials,),
    AuditAction.JOB_SUBMITTED: (near_identical_query, license_term),
    AuditAction.BUDGET_CHARGED: (budget_high,),
    AuditAction.JOB_FAILED: (over_limits,),
}


def evaluate(entry: AuditEntry, terms: IndexTerms, history: History) -> list[Alert]:
    rules = RULES.get(registered(entry.action), ())
    if not rules:
        return []
    event = Event(
        entry.seq,
        entry.at,
        entry.action,
        entry.subject,
        entry.details,
        terms.operator_id,
        terms.license_id,
    )
    return [alert for rule in rules if (alert := rule(event, history)) is not None]


def verification_alert(first_bad_seq: int | None, problem: str | None, source: str) -> Alert:
    """A failed verification, raised by whoever ran it (not by `append`)."""
    return Alert(
        "verification_failed",
        {"first_bad_seq": first_bad_seq, "problem": problem, "source": source},
    )


class SqlHistory:
    """History read from the audit table in the caller's transaction (indexed columns)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def count_since(
        self, action: AuditAction, operator_id: int, since: datetime, before: int
    ) -> int:
        query = select(func.count()).where(
            AuditEntry.action == action,
            AuditEntry.operator_id == operator_id,
            AuditEntry.at >= since,
            AuditEntry.seq < before,
        )
        return self.session.scalar(query) or 0

    def previous(self, action: AuditAction, operator_id: int, before: int) -> Event | None:
        row = self.session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.action == action,
                AuditEntry.operator_id == operator_id,
                AuditEntry.seq < before,
            )
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        return Event(
            row.seq, row.at, row.action, row.subject, row.details, row.operator_id, row.license_id
        )

    def alerted(self, rule: str, license_id: int, term: str) -> bool:
        rows = self.session.scalars(
            select(AuditEntry.details).where(
                AuditEntry.action == alert_action(rule), AuditEntry.license_id == license_id
            )
        )
        return any(details.get("term") == term for details in rows)
