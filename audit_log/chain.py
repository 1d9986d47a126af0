"""Appending to the log: each entry links to the previous one and becomes a Merkle leaf.

`append` runs inside the caller's transaction, so the state change and its entry
commit together. It also signs a tree head every N entries, and at least once a
minute while entries arrive, when the session can sign; and it raises alerts
(entries of their own) when a rule over the log fires. Only registered actions
(`audit_log.actions`) may be appended.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from audit_log.actions import AuditAction, alert_action, registered
from audit_log.alerts import RULES, SqlHistory, evaluate, verification_alert
from audit_log.canonical import json_safe
from audit_log.heads import head_due, write_head
from audit_log.index import IndexTerms, Owner, OwnerMemory, index_terms
from audit_log.records import AuditEntry, AuditEntryDataset
from audit_log.signing import session_head_seconds, session_signer
from audit_log.state import LogState, entry_digests, load_state, stored_owner
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
    state = _locked_state(session)
    row, terms = _next_row(session, state, actor, known, subject, json_safe(details or {}))
    entry = AuditEntry(**row)
    session.add(entry)  # the unit of work inserts a transaction's entries together
    session.add_all(AuditEntryDataset(seq=entry.seq, dataset=name) for name in terms.datasets)
    _after_entry(session, state, known, entry, terms)
    return entry


Pending = tuple[Actor, AuditAction, str, dict[str, Any]]


def append_many(session: Session, pending: Sequence[Pending]) -> list[int]:
    """Append stand-alone entries in order with one multi-row insert; their seqs.

    The same rows, hashes, heads and alerts as `append` called once per entry: rows
    wait in memory (owners they name are remembered for the entries after them) and
    are written before anything that reads the log (an alert rule) and at the end.
    """
    state = _locked_state(session)
    owners = OwnerMemory()
    rows: list[dict[str, Any]] = []
    datasets: list[tuple[int, str]] = []
    seqs = []

    def lookup(subject: str) -> Owner | None:
        return owners.lookup(subject) or stored_owner(session, subject)

    for actor, action, subject, details in pending:
        known = registered(action)
        if not known.is_alert and RULES.get(known):  # its rules read the log: write first
            _insert(session, rows, datasets)
            rows, datasets, owners = [], [], OwnerMemory()
            seqs.append(append(session, actor, known, subject, details).seq)
            state = load_state(session)  # a flush inside it may have dropped the cached tail
            continue
        row, terms = _next_row(session, state, actor, known, subject, json_safe(details), lookup)
        owners.remember(subject, terms)
        rows.append(row)
        datasets.extend((row["seq"], name) for name in terms.datasets)
        seqs.append(row["seq"])
        _sign_if_due(session, state)
    _insert(session, rows, datasets)
    return seqs


def _locked_state(session: Session) -> LogState:
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        # one appender at a time until commit, taken before the head is read
        session.execute(text(f"SELECT pg_advisory_xact_lock({APPEND_LOCK})"))
    return load_state(session)


def _next_row(
    session: Session,
    state: LogState,
    actor: Actor,
    known: AuditAction,
    subject: str,
    details: dict[str, Any],
    lookup: Callable[[str], Owner | None] | None = None,
) -> tuple[dict[str, Any], IndexTerms]:
    """The next entry's row (chained, hashed, indexed), and the tail moved past it."""
    at, seq = utcnow(), state.size + 1
    fields: dict[str, Any] = {
        "seq": seq,
        "at": at.isoformat(timespec="microseconds"),
        "actor": actor.name,
        "role": actor.role,
        "action": known.value,
        "subject": subject,
        "details": details,
        "prev_hash": state.last_hash,
    }
    entry_hash, leaf = entry_digests(state.suite, fields)
    if lookup is None:
        lookup = lambda related: stored_owner(session, related)  # noqa: E731
    terms = index_terms(subject, details, lookup)
    row = {
        **fields,
        "at": at,
        "entry_hash": entry_hash,
        "tree_nodes": b"".join(state.frontier.push(leaf)),
        "operator_id": terms.operator_id,
        "license_id": terms.license_id,
    }
    state.size, state.last_hash = seq, entry_hash
    return row, terms


def _insert(session: Session, rows: list[dict[str, Any]], datasets: list[tuple[int, str]]) -> None:
    """Write entries (and the datasets they name) with one executemany per table,
    on the session's connection: Core, without the ORM's bulk-insert bookkeeping."""
    connection = session.connection()
    if rows:
        connection.execute(insert(AuditEntry), rows)
    if datasets:
        rows = [{"seq": seq, "dataset": name} for seq, name in datasets]
        connection.execute(insert(AuditEntryDataset), rows)


def _sign_if_due(session: Session, state: LogState) -> None:
    signer = session_signer(session)
    if signer is not None and head_due(state, session_head_seconds(session)):
        write_head(session, state, signer, "interval")


def _after_entry(
    session: Session, state: LogState, known: AuditAction, entry: AuditEntry, terms: IndexTerms
) -> None:
    """Sign a head if one is due, then raise the alerts the new entry fires."""
    _sign_if_due(session, state)
    if not known.is_alert:
        for alert in evaluate(entry, terms, SqlHistory(session)):
            append(session, Actor.system(), alert_action(alert.rule), entry.subject, alert.details)


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
