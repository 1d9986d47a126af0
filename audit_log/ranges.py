"""Verifying the live store span by span, on every core.

The log is cut into spans of consecutive entries. Each span is checked by its own
`LogChecker`, started where the span starts: its Merkle frontier and the owners its
entries inherit come from what the store keeps beside earlier entries (subtree
hashes and index columns), and the span's signed and kept heads are checked against
roots computed from there. Checking the earlier spans proves exactly what the store
keeps, so a span's answer is the one a single pass from the start would give
whenever the spans before it pass. The calling process takes the spans in order,
checks that each one's first entry follows the last entry before it, and reports the
first problem: the same entry and words as one pass.

Worker processes read with their own read-only connections. The last span runs in
the calling process on the caller's connection, so entries the caller appended in
its still-open transaction are checked too.
"""

from __future__ import annotations

import bisect
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from audit_log.index import Owner, OwnerMemory
from audit_log.merkle import Frontier, HashSuite, get_suite
from audit_log.records import AuditEntry, LogConfig, TreeHead
from audit_log.signing import Verifier, session_verifier
from audit_log.state import DEFAULT_SUITE, stored_frontier, stored_owner
from audit_log.verify import (
    LogChecker,
    Tampered,
    Verification,
    stored_datasets,
    stored_fields,
)
from core.db import utcnow

PARALLEL_FROM = 50_000  # entries; below this, starting processes costs more than it saves
SPANS_PER_WORKER = 4  # several spans each, so a slow process does not hold up the rest


@dataclass(frozen=True)
class Span:
    """Entries first..last, with the heads signed or kept at sizes among them."""

    first: int
    last: int
    good_size: int  # the largest signed head before `first`, proven once the log up to it is
    heads: tuple[dict[str, Any], ...] = ()
    kept: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class SpanResult:
    """Where checking a span got to, and what stopped it."""

    size: int
    nodes: list[bytes]
    last_hash: str
    heads: int
    good_size: int
    witnessed: int
    first: tuple[Any, Any] | None  # (seq, prev_hash) of its first entry, if it had one
    error: tuple[int | None, str] | None


class _StoredOwners(OwnerMemory):
    """Owners remembered inside the span, else the latest the store keeps before it."""

    def __init__(self, db: Connection, before: int) -> None:
        super().__init__()
        self.db, self.before = db, before
        self.earlier: dict[str, Owner | None] = {}

    def lookup(self, subject: str) -> Owner | None:
        found = self.owners.get(subject)
        if found is not None or self.before == 0:
            return found
        if subject not in self.earlier:
            self.earlier[subject] = stored_owner(self.db, subject, self.before)
        return self.earlier[subject]


def check_span(
    db: Connection, suite: HashSuite, verifier: Verifier | None, span: Span
) -> SpanResult:
    """Check one span's entries and heads; the link into its first entry is the caller's."""
    base = span.first - 1
    rows = stored_fields(db, span.first, span.last)
    head_row = next(rows, None)
    first = None if head_row is None else (head_row[0], head_row[7])  # seq, prev_hash
    nodes = stored_frontier(db, base) if base else []
    if nodes is None:  # only when an earlier span fails (or the log predates stored hashes)
        problem = f"the stored Merkle hashes before entry {span.first} are missing"
        return SpanResult(base, [], "", 0, span.good_size, 0, first, (span.first, problem))
    checker = LogChecker(suite, verifier, _StoredOwners(db, base))
    checker.frontier, checker.good_size = Frontier(suite, base, nodes), span.good_size
    if first is not None:  # its link is checked against the span before
        checker.previous = str(first[1])
    for kept in span.kept:
        checker.kept.setdefault(kept["size"], []).append(kept)
    heads = {head["size"]: head for head in span.heads}
    datasets = stored_datasets(db, span.first, span.last)
    error = None
    try:
        for row in chain([head_row] if head_row else [], rows):
            seq = row[0]
            checker.row(row, datasets.get(seq, ()))
            if seq in heads:
                checker.head(heads[seq])
    except Tampered as problem:
        error = (problem.seq, problem.problem)
    return SpanResult(
        checker.size,
        checker.frontier.nodes,
        checker.previous,
        checker.heads,
        checker.good_size,
        checker.witnessed,
        first,
        error,
    )


_ENGINES: dict[str, Engine] = {}


def _read_only(url: str) -> Engine:
    """One engine per database in a worker process, whose connections cannot write."""
    engine = _ENGINES.get(url)
    if engine is None:
        if url.startswith("sqlite"):
            engine = create_engine(f"{url}?mode=ro&uri=true".replace(":///", ":///file:", 1))
        else:
            options = {"options": "-c default_transaction_read_only=on"}
            engine = create_engine(url, poolclass=NullPool, connect_args=options)
        _ENGINES[url] = engine
    return engine


Job = tuple[str, str, "Verifier | None", Span]  # database URL, hash suite, verifier, span


def _check_in_worker(job: Job) -> SpanResult:
    url, suite, verifier, span = job
    with _read_only(url).connect() as db:
        return check_span(db, get_suite(suite), verifier, span)


def _start_workers(jobs: list[Job], workers: int) -> list[subprocess.Popen[bytes]]:
    """`workers` fresh interpreters that import only this module (a pool would import the
    caller's whole program into each), each handed every n-th job."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    command = [sys.executable, "-c", f"from {__name__} import _serve; _serve()"]
    processes = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        for _ in range(min(workers, len(jobs)))
    ]
    for number, process in enumerate(processes):
        assert process.stdin is not None
        pickle.dump(jobs[number :: len(processes)], process.stdin)
        process.stdin.close()
    return processes


def _results(processes: list[subprocess.Popen[bytes]], count: int) -> Iterator[SpanResult | None]:
    """The workers' results in the order of their jobs; None where a worker died."""
    dead: set[int] = set()
    for number in range(count):
        worker = number % len(processes)
        out = processes[worker].stdout
        assert out is not None
        if worker in dead:
            yield None
            continue
        try:
            yield pickle.load(out)
        except (EOFError, pickle.UnpicklingError):
            dead.add(worker)
            yield None


def _serve() -> None:
    """A worker: read its jobs, write each span's result as soon as it is checked."""
    for job in pickle.load(sys.stdin.buffer):
        pickle.dump(_check_in_worker(job), sys.stdout.buffer)
        sys.stdout.buffer.flush()


def _absorb(checker: LogChecker, result: SpanResult) -> None:
    """Carry the sequential checker past a span, or raise the first problem it shows."""
    if result.first is not None:
        expected = checker.size + 1
        seq, prev_hash = result.first
        if seq != expected:
            raise Tampered(expected, f"expected entry {expected}, found {seq}")
        if prev_hash != checker.previous:
            raise Tampered(expected, "link to the previous entry is broken")
        checker.frontier = Frontier(checker.suite, result.size, result.nodes)
        checker.previous = result.last_hash
    checker.heads += result.heads
    checker.witnessed += result.witnessed
    checker.good_size = max(checker.good_size, result.good_size)
    for size in [size for size in checker.kept if size <= checker.size]:
        del checker.kept[size]  # checked inside the span
    if result.error is not None:
        raise Tampered(*result.error)


def plan_spans(
    size: int, count: int, heads: Sequence[dict[str, Any]], kept: Iterable[dict[str, Any]]
) -> list[Span]:
    """`count` spans of about equal length covering entries 1..size; heads by size."""
    head_sizes = [head["size"] for head in heads]
    kept_list = list(kept)
    length = -(-size // max(count, 1))
    spans = []
    for first in range(1, size + 1, length):
        last = min(first + length - 1, size)
        before = bisect.bisect_left(head_sizes, first)
        good = head_sizes[before - 1] if before else 0
        spans.append(
            Span(
                first,
                last,
                good,
                tuple(h for h in heads if first <= h["size"] <= last),
                tuple(h for h in kept_list if first <= h["size"] <= last),
            )
        )
    return spans


def _shared_url(session: Session) -> str | None:
    """A URL other processes can open the same database with (None: only this one can)."""
    bind = session.get_bind()
    url = bind.engine.url
    if url.drivername.startswith("sqlite") and url.database in (None, "", ":memory:"):
        return None
    return url.render_as_string(hide_password=False)


def _picklable(verifier: Verifier | None) -> bool:
    try:
        pickle.dumps(verifier)
    except (pickle.PicklingError, TypeError, AttributeError):
        return False
    return True


def _check_spans(
    session: Session,
    checker: LogChecker,
    spans: list[Span],
    workers: int,
    progress: Callable[[int], None] | None,
) -> None:
    db, suite, verifier = session.connection(), checker.suite, checker.verifier
    url = _shared_url(session)
    *ahead, tail = spans
    if not ahead or workers <= 1 or url is None or not _picklable(verifier):
        for span in spans:
            _absorb(checker, check_span(db, suite, verifier, span))
            if progress is not None:
                progress(checker.size)
        return
    processes = _start_workers([(url, suite.name, verifier, span) for span in ahead], workers)
    try:
        last = check_span(db, suite, verifier, tail)  # meanwhile, here
        for span, result in zip(spans, [*_results(processes, len(ahead)), last], strict=True):
            if result is None:  # its worker died (killed, out of memory): check it here
                result = check_span(db, suite, verifier, span)
            _absorb(checker, result)
            if progress is not None:
                progress(checker.size)
    finally:
        for process in processes:
            process.kill()
            process.wait()


def _span_count(size: int, workers: int | None, span_entries: int | None, legacy: bool) -> int:
    if legacy or size == 0:
        return 1  # subtree hashes missing beside old entries: one pass from the start
    if span_entries is not None:
        return -(-size // span_entries)
    if workers is None and size < PARALLEL_FROM:
        return 1
    return (workers or os.cpu_count() or 1) * SPANS_PER_WORKER + 1


def verify_store(
    session: Session,
    verifier: Verifier | None = None,
    kept: Iterable[dict[str, Any]] = (),
    unsigned_seconds: float | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
    span_entries: int | None = None,
) -> Verification:
    """Verify the live store against its own signed heads (signatures too, given a key).

    `kept` are heads a regulator or witness kept earlier: the log must be a consistent
    extension of each (a shortened, rewritten or forked log fails). With
    `unsigned_seconds`, entries past the last signed head older than that fail too.
    `progress`, if given, hears how many entries have been checked, span by span.
    A large log is checked on `workers` processes (default: every core), in spans
    of `span_entries` (default: a few per worker).
    """
    config = session.get(LogConfig, 1)
    suite = get_suite(config.hash_suite if config else DEFAULT_SUITE)
    if verifier is None:
        verifier = session_verifier(session)
    checker = LogChecker(suite, verifier)
    try:
        for head in kept:
            checker.keep(head)
        heads = [
            {"type": "tree_head", **h.to_dict()}
            for h in session.scalars(select(TreeHead).order_by(TreeHead.size))
        ]
        for head in heads:
            if head["size"] < 1:
                checker.head(head)
        size = int(session.scalar(select(func.max(AuditEntry.seq))) or 0)
        legacy = session.scalar(select(AuditEntry.tree_nodes).where(AuditEntry.seq == 1)) is None
        count = _span_count(size, workers, span_entries, legacy)
        spans = plan_spans(size, count, heads, checker.kept_heads())
        if spans:
            _check_spans(session, checker, spans, workers or os.cpu_count() or 1, progress)
        for head in heads:
            if head["size"] > checker.size:
                checker.head(head)
        result = checker.finish(require_signed_tail=False)
    except Tampered as error:
        return checker.result(False, [], error)
    if result.ok and unsigned_seconds is not None and result.unsigned_tail:
        first = result.signed_size + 1
        at = session.scalar(select(AuditEntry.at).where(AuditEntry.seq == first))
        if at is not None and utcnow() - at > timedelta(seconds=unsigned_seconds):
            problem = (
                f"entries {first}..{result.entries} are not covered by a signed head, the "
                f"oldest since {at.isoformat(timespec='seconds')}Z; they could be dropped unseen"
            )
            return checker.result(False, [], Tampered(first, problem))
    return result
