"""Recomputing the chain and naming the first entry that does not fit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log.chain import GENESIS, entry_hash
from audit_log.records import AuditEntry


@dataclass
class Verification:
    ok: bool
    entries: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None
    checks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "checks": self.checks,
        }


def verify_entries(entries: Iterable[dict[str, Any]]) -> Verification:
    """Check sequence numbers, links and hashes of entries given in log order."""
    previous = GENESIS
    count = 0
    for expected_seq, entry in enumerate(entries, start=1):
        seq = entry.get("seq")
        if seq != expected_seq:
            return Verification(
                False, count, previous, expected_seq, f"expected entry {expected_seq}, found {seq}"
            )
        if entry.get("prev_hash") != previous:
            return Verification(False, count, previous, seq, "link to the previous entry is broken")
        if entry_hash(entry) != entry.get("entry_hash"):
            return Verification(
                False, count, previous, seq, "entry content does not match its hash"
            )
        previous = entry["entry_hash"]
        count += 1
    return Verification(True, count, previous, checks=["sequence", "links", "hashes"])


def verify_store(session: Session) -> Verification:
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).yield_per(2000)
    return verify_entries(row.to_dict() for row in rows)
