"""Group commit for entries that stand alone: many writers, one transaction per batch.

An entry that records no state change of its own (a refused or failed request) needs
no transaction of its caller's. Writers hand such entries to the domain's
`GroupAppender`; whichever writer arrives while no batch is committing leads: it
takes every entry waiting, appends them in one transaction (one fsync) and hands
the lead to the next writer waiting, the way databases commit groups. Each writer
returns only after its batch is durable, with its own sequence number.

Entries that record a state change keep `append(session, ...)` inside the change's
transaction: that transaction is their batch, so the change and its entry still
commit together. Across processes (API server, workers) each process batches its
own writers, and the batches serialize on the database's write lock like any
transaction, so order, the hash chain and the Merkle tree are exactly as
`append` builds them.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session

from audit_log.actions import AuditAction, registered
from audit_log.canonical import canonical, json_safe
from audit_log.chain import Actor, append_many


@dataclass
class _Waiting:
    """One writer's entry and, once its batch has ended, its sequence number or error."""

    actor: Actor
    action: AuditAction
    subject: str
    details: dict[str, Any]
    woken: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    seq: int | None = None
    error: BaseException | None = None

    def outcome(self) -> int:
        if self.error is not None:
            raise self.error
        assert self.seq is not None
        return self.seq


class GroupAppender:
    """Appends stand-alone entries from many threads, committing whatever waits as one batch."""

    def __init__(self, sessions: Callable[[], Session], lock_path: Path | None = None) -> None:
        """`lock_path`: a file whose lock the processes sharing a SQLite database take
        in turn around each batch; a process waiting on it wakes as soon as the other
        commits, where SQLite's own busy handler would sleep and poll."""
        self.sessions, self.lock_path = sessions, lock_path
        self._lock_file: IO[bytes] | None = None
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._leading = False

    @property
    def busy(self) -> bool:
        """Whether a batch is committing now."""
        return self._leading

    @property
    def waiting(self) -> int:
        """Entries queued for the next batch."""
        return len(self._queue)

    def append(
        self,
        actor: Actor,
        action: AuditAction,
        subject: str,
        details: dict[str, Any] | None = None,
    ) -> int:
        """Append one entry and return its sequence number once it is durable.

        Errors in the entry itself (an unregistered action, details that are not
        JSON) are raised here, before the entry joins a batch, so they are the
        caller's alone.
        """
        safe = json_safe(details or {})
        canonical(safe)  # raises for what the log cannot hold (NaN, unknown types)
        waiting = _Waiting(actor, registered(action), subject, safe)
        with self._lock:
            self._queue.append(waiting)
            lead = not self._leading
            self._leading = True
        if not lead:
            waiting.woken.wait()
            if waiting.finished:
                return waiting.outcome()
        self._lead()
        return waiting.outcome()

    def _lead(self) -> None:
        """Commit everything waiting, then pass the lead to the next writer, if any.

        The batch is taken only once this process holds the database between
        processes: entries that arrive while the other process commits join it.
        """
        batch: list[_Waiting] = []
        try:
            with self._between_processes():
                with self._lock:
                    batch, self._queue = self._queue, []
                self._commit(batch)
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0].woken.set()  # it leads the next batch
                else:
                    self._leading = False
            for waiting in batch:
                if waiting.seq is None and waiting.error is None:
                    waiting.error = RuntimeError("the audit batch was interrupted")
                waiting.finished = True
                waiting.woken.set()

    @contextmanager
    def _between_processes(self) -> Iterator[None]:
        if self.lock_path is None:
            yield
            return
        if self._lock_file is None:
            self._lock_file = self.lock_path.open("ab")
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def _commit(self, batch: list[_Waiting]) -> None:
        """One transaction for the batch; if it fails, each writer's entry alone."""
        pending = [(w.actor, w.action, w.subject, w.details) for w in batch]
        try:
            with self.sessions() as session, session.begin():
                seqs = append_many(session, pending)
        except Exception as error:  # noqa: BLE001  handed to the writers, never swallowed
            if len(batch) == 1:
                batch[0].error = error
                return
            # one entry may have failed the batch: each writer tries alone, and gets
            # its own sequence number or its own error
            for waiting in batch:
                self._commit([waiting])
            return
        for waiting, seq in zip(batch, seqs, strict=True):
            waiting.seq = seq
