"""The regulator's questions: entries filtered by operator, license, dataset, action, time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from audit_log.actions import ALERT_PREFIX
from audit_log.records import AuditEntry, AuditEntryDataset


@dataclass(frozen=True)
class EntryFilter:
    """Every field narrows the list; None leaves it open. `action` ending in `.` is a prefix."""

    operator_id: int | None = None
    license_id: int | None = None
    dataset: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = 0


def _where(query: Select[tuple[AuditEntry]], f: EntryFilter) -> Select[tuple[AuditEntry]]:
    query = query.where(AuditEntry.seq > f.after_seq)
    if f.operator_id is not None:
        query = query.where(AuditEntry.operator_id == f.operator_id)
    if f.license_id is not None:
        query = query.where(AuditEntry.license_id == f.license_id)
    if f.dataset is not None:
        naming = select(AuditEntryDataset.seq).where(AuditEntryDataset.dataset == f.dataset)
        query = query.where(AuditEntry.seq.in_(naming))
    if f.action:
        if f.action.endswith("."):
            query = query.where(AuditEntry.action.startswith(f.action, autoescape=True))
        else:
            query = query.where(AuditEntry.action == f.action)
    if f.since is not None:
        query = query.where(AuditEntry.at >= f.since)
    if f.until is not None:
        query = query.where(AuditEntry.at < f.until)
    return query


def list_entries(session: Session, where: EntryFilter, limit: int = 100) -> list[AuditEntry]:
    query = _where(select(AuditEntry), where).order_by(AuditEntry.seq).limit(limit)
    return list(session.scalars(query))


def list_alerts(session: Session, where: EntryFilter, limit: int = 100) -> list[AuditEntry]:
    """Alerts are entries whose action starts with `alert.`; the same filters apply."""
    rule = where.action
    action = f"{ALERT_PREFIX}{rule}" if rule and not rule.startswith(ALERT_PREFIX) else rule
    narrowed = EntryFilter(
        where.operator_id,
        where.license_id,
        where.dataset,
        action or ALERT_PREFIX,
        where.since,
        where.until,
        where.after_seq,
    )
    return list_entries(session, narrowed, limit)
