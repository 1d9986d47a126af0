"""Appending to the chain: each entry's hash covers its fields and the previous hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import rfc8785
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log.records import AuditEntry
from core.db import utcnow

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who did something: a user name and role, or the system itself."""

    name: str
    role: str

    @classmethod
    def system(cls) -> Actor:
        return cls("sluice", "system")


def _json_safe(value: Any) -> Any:
    """Details are canonicalised as JSON; floats that are whole become ints (JCS rule)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def entry_hash(fields: dict[str, Any]) -> str:
    """SHA-256 over the RFC 8785 canonical form of an entry without its own hash."""
    body = {k: v for k, v in fields.items() if k != "entry_hash"}
    return hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def head(session: Session) -> AuditEntry | None:
    return session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()


def append(
    session: Session,
    actor: Actor,
    action: str,
    subject: str,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry to the caller's open transaction; the caller commits both together."""
    last = head(session)
    entry = AuditEntry(
        seq=(last.seq + 1) if last else 1,
        at=utcnow(),
        actor=actor.name,
        role=actor.role,
        action=action,
        subject=subject,
        details=_json_safe(details or {}),
        prev_hash=last.entry_hash if last else GENESIS,
        entry_hash="",
    )
    entry.entry_hash = entry_hash(entry.to_dict())
    session.add(entry)
    session.flush()
    return entry
