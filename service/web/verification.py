"""The regulator's verification badge without re-reading the whole log on every page.

A page shows what is cheap and still meaningful: whether the latest signed head's
signature verifies with the domain key, how many entries came after it, and the
result of the last full verification. A full verification (every entry's hash, the
Merkle tree, every head) runs on demand in the background (service.web.background),
one per domain, and reports how far it got, so a regulator can watch a million
entries being checked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit_log import AuditEntry, verify_store
from audit_log.heads import latest_head
from audit_log.signing import head_signature_ok, session_verifier
from core.db import utcnow
from service.domain import Domain
from service.web.background import Runs

__all__ = ["FullCheck", "badge", "full_check", "start_full_check"]


@dataclass(frozen=True)
class FullCheck:
    """The last (or running) full verification of one domain's log."""

    state: str = "never"  # never | running | done
    checked: int = 0
    total: int = 0
    ok: bool | None = None
    problem: str | None = None
    finished_at: str | None = None
    started_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_RUNS: Runs[FullCheck] = Runs()


def _key(domain: Domain) -> str:
    return f"verify:{domain.home.root}"


def full_check(domain: Domain) -> FullCheck:
    return _RUNS.get(_key(domain)) or FullCheck()


def start_full_check(domain: Domain, who: str) -> FullCheck:
    """Start a full verification in the background, unless one is already running."""
    current = full_check(domain)
    if current.state == "running":
        return current
    with domain.sessions() as session:
        total = int(session.scalar(select(func.max(AuditEntry.seq))) or 0)
    key = _key(domain)

    def progress(seq: int) -> None:
        if seq % 1000 == 0:
            _RUNS.update(key, checked=seq)

    def finished(check: FullCheck) -> FullCheck:
        stamp = utcnow().isoformat(timespec="seconds") + "Z"
        return replace(check, finished_at=stamp, started_by=who)

    def work() -> FullCheck:
        with domain.sessions() as session:
            result = verify_store(session, progress=progress)
        entries = result.entries
        return finished(FullCheck("done", entries, entries, result.ok, result.problem))

    def failed(error: Exception) -> FullCheck:  # a failure to check is shown, never hidden
        stopped = f"verification stopped: {type(error).__name__}"
        return finished(FullCheck("done", 0, total, False, stopped))

    return _RUNS.start(key, FullCheck("running", 0, total, started_by=who), work, failed)


def badge(session: Session, domain: Domain) -> dict[str, Any]:
    """What a page can say at once: the signed head's signature, the entries after it,
    and the last full verification (without re-reading the log)."""
    entries = int(session.scalar(select(func.max(AuditEntry.seq))) or 0)
    signed = latest_head(session)
    verifier = session_verifier(session)
    head = signed.to_dict() if signed is not None else None
    head_ok = bool(head and verifier and head_signature_ok(head, verifier))
    check = full_check(domain)
    ok = head_ok and check.ok is not False
    return {
        "ok": ok,
        "entries": entries,
        "signed_head": head,
        "signed_head_ok": head_ok,
        "after_head": entries - (signed.size if signed is not None else 0),
        "full": check.to_dict(),
    }
