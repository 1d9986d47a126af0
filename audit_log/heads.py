"""Signed tree heads (STH): every N entries, at least once a minute while entries arrive,
at every release and checkpoint, and on demand."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from audit_log.records import TreeHead
from audit_log.signing import Signer, session_signer, sign_head
from audit_log.state import LogState, head_time, load_state
from core.db import utcnow
from core.errors import InvalidInput, NotFound, Step


def write_head(session: Session, state: LogState, signer: Signer, reason: str) -> TreeHead:
    """Sign the log as it stands in this transaction: its size, root and hash suite."""
    now = utcnow()
    fields = {
        "size": state.size,
        "root_hash": state.frontier.root().hex(),
        "hash_suite": state.suite.name,
        "timestamp": now.isoformat(timespec="microseconds") + "Z",
        "reason": reason,
    }
    signed = sign_head(signer, fields)
    head = TreeHead(
        size=signed["size"],
        root_hash=signed["root_hash"],
        hash_suite=signed["hash_suite"],
        signature_algorithm=signed["signature_algorithm"],
        key_id=signed["key_id"],
        timestamp=signed["timestamp"],
        signature=signed["signature"],
        reason=reason,
    )
    session.add(head)
    session.flush()
    state.head_size, state.head_at = state.size, head_time(signed["timestamp"])
    return head


def head_due(state: LogState, every_seconds: float) -> bool:
    """Whether the entry just appended must be signed: N entries, or the interval, passed."""
    if state.size - state.head_size >= state.checkpoint_every:
        return True
    return utcnow() - state.head_at >= timedelta(seconds=every_seconds)


def checkpoint(
    session: Session, signer: Signer | None = None, reason: str = "checkpoint"
) -> TreeHead:
    """A signed head at the current size: the existing one if the log has not grown since."""
    signer = signer or session_signer(session)
    if signer is None:
        raise InvalidInput.coded("audit_no_signing_key")
    state = load_state(session)
    if state.size == 0:
        raise InvalidInput.coded("audit_log_empty")
    existing = session.scalars(select(TreeHead).where(TreeHead.size == state.size)).first()
    return existing or write_head(session, state, signer, reason)


def sign_if_able(session: Session, reason: str) -> TreeHead | None:
    """A signed head over the log as it stands, when this session can sign (else None)."""
    if session_signer(session) is None:
        return None
    return checkpoint(session, reason=reason)


def sign_stale_tail(session: Session, every_seconds: float) -> TreeHead | None:
    """Sign the tail if entries wait past the last head and that head is `every_seconds` old.

    Appends sign when an entry arrives late; this covers the quiet after the last one.
    """
    signer = session_signer(session)
    state = load_state(session)
    if signer is None or state.size == state.head_size or state.size == 0:
        return None
    if utcnow() - state.head_at < timedelta(seconds=every_seconds):
        return None
    return write_head(session, state, signer, "interval")


class HeadTicker:
    """A background thread that signs a quiet log's tail once its last head is a minute old."""

    def __init__(self, sessions: Callable[[], Session], every_seconds: float) -> None:
        self.sessions, self.every_seconds = sessions, every_seconds
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sluice-head-ticker", daemon=True)

    def _run(self) -> None:
        while not self.stopped.wait(max(self.every_seconds / 4, 0.05)):
            try:
                with self.sessions() as session, session.begin():
                    sign_stale_tail(session, self.every_seconds)
            except SQLAlchemyError:  # a busy database: try again next tick
                continue

    def start(self) -> HeadTicker:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()


def list_heads(session: Session, after_size: int = 0, limit: int | None = None) -> list[TreeHead]:
    query = select(TreeHead).where(TreeHead.size > after_size).order_by(TreeHead.size)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def latest_head(session: Session) -> TreeHead | None:
    return session.scalars(select(TreeHead).order_by(TreeHead.size.desc()).limit(1)).first()


def head_at(session: Session, size: int) -> TreeHead:
    head = session.scalars(select(TreeHead).where(TreeHead.size == size)).first()
    if head is None:
        sizes = [h.size for h in list_heads(session)][-10:]
        if not sizes:
            raise NotFound.coded(
                "audit_head_missing_none",
                size=size,
                suggestion="sign a tree head at the current size",
                step=Step.SIGN_HEAD,
            )
        raise NotFound.coded(
            "audit_head_missing",
            size=size,
            known=", ".join(map(str, sizes)),
            suggestion="sign a tree head at the current size",
            step=Step.SIGN_HEAD,
        )
    return head
