"""Appending to the log: each entry links to the previous one and becomes a Merkle leaf.

`append` runs inside the caller's transaction, so the state change and its entry
commit together. It also signs a tree head every N entries, and at least once a
minute while entries arrive, when the session can sign; and it raises alerts
(entries of their own) when a rule over the log fires. Only registered actions
(`audit_log.actions`) may be appended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from audit_log.actions import AuditAction, alert_action, registered
from audit_log.alerts import SqlHistory, evaluate, verification_alert
from audit_log.canonical import json_safe
from audit_log.heads import head_due, write_head
from audit_log.index import index_terms
from audit_log.records import AuditEntry, AuditEntryDataset
from audit_log.signing import session_head_seconds, session_signer
from audit_log.state import entry_digests, load_state, stored_owner
from core.db import utcnow

# PostgreSQL advisory-lock key serializing audit appends (any constant, fixed forever)
APPEND_LOCK = 0x51C3_A0D1


@dataclass(frozen=True)
class Actor:
    """Who did something: a user name and role, or the system itself."""

    name: str
    role: str

    @classmethod
    def system(cls) -> Actor:
        return cls("sluice", "system")


def head(session: Session) -> AuditEntry | None:
    return session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()


def append(
    session: Session,
    actor: Actor,
    action: AuditAction,
    subject: str,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry to the caller's open transaction; the caller commits both together.

    An unregistered action raises ValueError before anything is written.
    """
    known = registered(action)  # also guards callers that pass a plain string
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        # one appender at a time until commit, taken before the head is read
        session.execute(text(f"SELECT pg_advisory_xact_lock({APPEND_LOCK})"))
    state = load_state(session)
    safe_details = json_safe(details or {})
    entry = AuditEntry(
        seq=state.size + 1,
        at=utcnow(),
        actor=actor.name,
        role=actor.role,
        action=known.value,
        subject=subject,
        details=safe_details,
        prev_hash=state.last_hash,
        entry_hash="",
    )
    entry.entry_hash, leaf = entry_digests(state.suite, entry.to_dict())
    entry.tree_nodes = b"".join(state.frontier.push(leaf))
    terms = index_terms(subject, safe_details, lambda related: stored_owner(session, related))
    entry.operator_id, entry.license_id = terms.operator_id, terms.license_id
    session.add(entry)
    session.add_all(AuditEntryDataset(seq=entry.seq, dataset=name) for name in terms.datasets)
    state.size, state.last_hash = entry.seq, entry.entry_hash
    signer = session_signer(session)
    if signer is not None and head_due(state, session_head_seconds(session)):
        write_head(session, state, signer, "interval")
    if not known.is_alert:
        for alert in evaluate(entry, terms, SqlHistory(session)):
            append(session, Actor.system(), alert_action(alert.rule), subject, alert.details)
    return entry


def record_failed_verification(
    session: Session, first_bad_seq: int | None, problem: str | None, source: str
) -> AuditEntry | None:
    """Raise `alert.verification_failed`, unless the last such alert said the same."""
    alert = verification_alert(first_bad_seq, problem, source)
    last = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == AuditAction.ALERT_VERIFICATION_FAILED)
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    ).first()
    if last is not None and (last.details.get("first_bad_seq"), last.details.get("problem")) == (
        first_bad_seq,
        problem,
    ):
        return None
    action = alert_action(alert.rule)
    return append(session, Actor.system(), action, "audit_log", alert.details)
