"""Full verifications of the audit log, for the console and the API alike, and what
can be said of the log at once without one.

A full verification (every entry's hash, the Merkle tree, every head) runs in the
background (service.background), one per domain, and reports how far it got; its
record is in the database (audit_log.verification_runs), so every server process
answers from it. What a request may answer at once is cheap and still meaningful:
whether the latest signed head's signature verifies with the domain key, how many
entries came after it, and the latest full verification's result.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit_log import AuditEntry, verify_store
from audit_log.heads import latest_head
from audit_log.signing import head_signature_ok, session_verifier
from audit_log.verification_runs import (
    VerificationRun,
    begin_verification,
    fail_verification,
    finish_verification,
    get_verification,
    latest_verification,
    verification_progress,
)
from core.db import READ_ONLY
from core.runs import touch_run
from service.background import at_most_every, run_in_background
from service.domain import Domain

__all__ = ["FullCheck", "badge", "full_check", "start_verification", "verification"]

PROGRESS_SECONDS = 0.5  # entries checked are written at most this often
INTERRUPTED = "interrupted: the server running it stopped before it finished"


@dataclass(frozen=True)
class FullCheck:
    """One full verification as a reader sees it (the console's badge, the API)."""

    id: str | None = None
    state: str = "never"  # never | running | done (a result) | failed (none: stopped)
    checked: int = 0
    total: int = 0
    ok: bool | None = None
    problem: str | None = None
    started_by: str | None = None
    source: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    interrupted: bool = False
    result: dict[str, Any] | None = None

    @classmethod
    def of(cls, run: VerificationRun) -> FullCheck:
        """The record as read now: a run whose process stopped reporting has failed."""
        stopped = run.interrupted()
        problem = INTERRUPTED if stopped else run.problem
        if run.result is not None and not run.result["ok"]:
            problem = run.result["problem"]
        return cls(
            run.id,
            "failed" if stopped else str(run.state),
            run.checked,
            run.total,
            run.ok,
            problem,
            run.started_by,
            run.source,
            _stamp(run.started_at),
            _stamp(run.finished_at),
            stopped,
            run.result,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stamp(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds") + "Z"


def verification(domain: Domain, run_id: str) -> FullCheck:
    with domain.transaction() as session:
        return FullCheck.of(get_verification(session, run_id))


def full_check(domain: Domain) -> FullCheck:
    """The latest full verification, running or ended."""
    with domain.transaction() as session:
        latest = latest_verification(session)
        return FullCheck() if latest is None else FullCheck.of(latest)


def start_verification(domain: Domain, who: str, source: str) -> tuple[FullCheck, bool]:
    """Start a full verification in the background, unless one is already running (on
    any server process): the run, and whether it is a new one."""
    with domain.transaction() as session:
        run, new = begin_verification(session, secrets.token_hex(8), who, source)
        check = FullCheck.of(run)
    if new:
        run_in_background(
            f"verify-{check.id}",
            work=lambda: _verify(domain, str(check.id)),
            failed=lambda error: _stopped(domain, str(check.id), error),
            beat=lambda: _beat(domain, str(check.id)),
        )
    return check, new


def _verify(domain: Domain, run_id: str) -> None:
    """The background thread's work: the one place a full verification runs for a reader."""

    def progress(checked: int) -> None:  # heard once per span of the log
        with domain.transaction() as session:
            verification_progress(session, run_id, checked)

    unsigned = 2 * domain.settings.audit_head_seconds
    with domain.sessions() as session:
        session.connection(execution_options=READ_ONLY)  # others write while it reads
        result = verify_store(
            session,
            unsigned_seconds=unsigned,
            progress=at_most_every(PROGRESS_SECONDS, progress),
        )
    with domain.transaction() as session:
        finish_verification(session, run_id, result)


def _stopped(domain: Domain, run_id: str, error: Exception) -> None:
    """A failure to check is shown, never hidden (by kind: its text may quote data)."""
    with domain.transaction() as session:
        fail_verification(session, run_id, f"verification stopped: {type(error).__name__}")


def _beat(domain: Domain, run_id: str) -> None:
    with domain.transaction() as session:
        touch_run(session, VerificationRun, run_id)


def badge(session: Session) -> dict[str, Any]:
    """What a request can say at once: the signed head's signature, the entries after it,
    and the latest full verification (without re-reading the log)."""
    entries = int(session.scalar(select(func.max(AuditEntry.seq))) or 0)
    signed = latest_head(session)
    verifier = session_verifier(session)
    head = signed.to_dict() if signed is not None else None
    head_ok = bool(head and verifier and head_signature_ok(head, verifier))
    latest = latest_verification(session)
    result = latest_verification(session, with_result=True)
    return {
        "ok": head_ok and (result is None or result.ok is True),
        "entries": entries,
        "signed_head": head,
        "signed_head_ok": head_ok,
        "after_head": entries - (signed.size if signed is not None else 0),
        "full": FullCheck.of(latest).to_dict() if latest is not None else FullCheck().to_dict(),
        "last_result": FullCheck.of(result).to_dict() if result is not None else None,
    }
