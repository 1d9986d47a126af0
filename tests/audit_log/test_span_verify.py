"""Verifying the live store in spans, on worker processes: the same answer as one pass,
whichever span holds the tampered entry."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select, text

from audit_log import (
    Actor,
    AuditAction,
    AuditEntry,
    append,
    get_suite,
    list_heads,
    verify_store,
)
from audit_log.merkle import Frontier
from audit_log.signing import Ed25519Verifier
from audit_log.state import GENESIS, entry_digests
from service.domain import Domain
from tests.audit_log.conftest import open_log_domain

SIZE = 60
SPAN = 7  # spans 1-7, 8-14, ..., 57-60; a head every 4 entries
JOBS = 3


def _fill(domain: Domain) -> None:
    """Entries about jobs name their owner once and inherit it later, across spans."""
    named: set[int] = set()
    with domain.transaction() as session:
        for n in range(2, SIZE + 1):
            if n % 3:
                details: dict[str, object] = {"n": n, "note": "可用不可见", "share": n / 8}
                append(session, Actor("t", "admin"), AuditAction.TOKEN_USED, f"thing:{n}", details)
                continue
            job = (n // 3) % JOBS
            details = {"n": n} if job in named else {"n": n, "operator_id": 7, "license": job}
            named.add(job)
            append(session, Actor("t", "system"), AuditAction.TOKEN_USED, f"job:{job}", details)


@pytest.fixture
def spanned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Domain:
    domain = open_log_domain(tmp_path, monkeypatch)
    _fill(domain)
    return domain


def _sql(*statements: str) -> Callable[[Domain], None]:
    def run(domain: Domain) -> None:
        with domain.engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))

    return run


def _swap(seq: int) -> Callable[[Domain], None]:
    """Entries seq and seq+1 change places."""
    return _sql(
        f"UPDATE audit_entries SET seq = -1 WHERE seq = {seq}",
        f"UPDATE audit_entries SET seq = {seq} WHERE seq = {seq + 1}",
        f"UPDATE audit_entries SET seq = {seq + 1} WHERE seq = -1",
    )


def _rewrite_from(seq: int) -> Callable[[Domain], None]:
    """The strong attacker: edit an entry, recompute every hash after it, sign nothing."""

    def run(domain: Domain) -> None:
        suite = get_suite("sha256")
        with domain.transaction() as session:
            rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
            frontier, previous = Frontier(suite), GENESIS
            for row in rows:
                if row.seq == seq:
                    row.details = {**row.details, "n": -1}
                row.prev_hash = previous
                row.entry_hash, leaf = entry_digests(suite, row.to_dict())
                row.tree_nodes = b"".join(frontier.push(leaf))
                previous = row.entry_hash

    return run


def _edit(seq: int) -> Callable[[Domain], None]:
    return _sql(f"UPDATE audit_entries SET details = '{{\"n\": 0}}' WHERE seq = {seq}")


def _delete(seq: int) -> Callable[[Domain], None]:
    return _sql(f"DELETE FROM audit_entries WHERE seq = {seq}")


# case -> (tamper, the first bad entry one pass reports)
TAMPERS: dict[str, tuple[Callable[[Domain], None], int | None]] = {
    "edit in the first span": (_edit(3), 3),
    "edit in a middle span": (_edit(30), 30),
    "edit in the last span": (_edit(58), 58),
    "delete in the first span": (_delete(2), 2),
    "delete the first of a span": (_delete(29), 29),
    "delete the last of a span": (_delete(28), 28),
    "delete in the last span": (_delete(59), 59),
    "deleted tail": (_sql("DELETE FROM audit_entries WHERE seq > 50"), 51),
    "reordered pair inside a span": (_swap(31), 31),
    "reordered pair across spans": (_swap(14), 14),
    "rehash one": (
        _sql("UPDATE audit_entries SET entry_hash = '00' || substr(entry_hash, 3) WHERE seq = 42"),
        42,
    ),
    "stored merkle hash, end of a span": (
        _sql("UPDATE audit_entries SET tree_nodes = zeroblob(32) WHERE seq = 28"),
        28,
    ),
    "stored merkle hash, middle": (
        _sql("UPDATE audit_entries SET tree_nodes = zeroblob(64) WHERE seq = 44"),
        44,
    ),
    "inherited index column": (
        _sql("UPDATE audit_entries SET license_id = 77 WHERE seq = 33"),
        33,
    ),
    "head root": (  # the signature covers the root: caught as a bad head
        _sql(
            "UPDATE audit_tree_heads SET root_hash = '00' || substr(root_hash, 3) WHERE size = 28"
        ),
        None,
    ),
    "rewrite with consistent hashes": (_rewrite_from(30), 29),
    "head signature": (
        _sql("UPDATE audit_tree_heads SET signature = 'AAAA' WHERE size = 40"),
        None,
    ),
}


def _both(domain: Domain, workers: int, **kw: object) -> tuple[dict, dict]:
    with domain.sessions() as session:
        one_pass = verify_store(session, workers=1, **kw).to_dict()  # type: ignore[arg-type]
        spans = verify_store(session, workers=workers, span_entries=SPAN, **kw)  # type: ignore[arg-type]
    return one_pass, spans.to_dict()


def test_an_intact_log_reads_the_same_in_spans(spanned: Domain) -> None:
    with spanned.sessions() as session:
        kept = [h.to_dict() for h in list_heads(session) if h.size in (12, 28, 60)]
    seen: list[int] = []
    with spanned.sessions() as session:
        one_pass = verify_store(session, kept=kept, workers=1)
        spans = verify_store(session, kept=kept, workers=2, span_entries=SPAN, progress=seen.append)
    assert one_pass.ok and one_pass.entries == SIZE and one_pass.witnessed == 3
    assert spans.to_dict() == one_pass.to_dict()
    assert seen[-1] == SIZE and seen == sorted(seen) and len(seen) == -(-SIZE // SPAN)


@pytest.mark.parametrize("case", TAMPERS, ids=list(TAMPERS))
def test_spans_find_the_same_first_bad_entry(spanned: Domain, case: str) -> None:
    tamper, first_bad = TAMPERS[case]
    tamper(spanned)
    one_pass, spans = _both(spanned, workers=1)  # spans checked here, one after another
    assert not one_pass["ok"] and one_pass["first_bad_seq"] == first_bad, one_pass
    assert spans == one_pass


@pytest.mark.parametrize(
    "case", ["edit in the first span", "edit in a middle span", "deleted tail"]
)
def test_worker_processes_find_the_same_first_bad_entry(spanned: Domain, case: str) -> None:
    tamper, first_bad = TAMPERS[case]
    tamper(spanned)
    one_pass, spans = _both(spanned, workers=2)
    assert not one_pass["ok"] and one_pass["first_bad_seq"] == first_bad, one_pass
    assert spans == one_pass


def test_a_kept_head_past_a_shortened_log_fails_in_spans(spanned: Domain) -> None:
    with spanned.sessions() as session:
        kept = [h.to_dict() for h in list_heads(session) if h.size == 56]
    _sql("DELETE FROM audit_entries WHERE seq > 52", "DELETE FROM audit_tree_heads")(spanned)
    one_pass, spans = _both(spanned, workers=2, kept=kept)
    assert not one_pass["ok"] and "shortened" in one_pass["problem"]
    assert spans == one_pass


def _die_unless_in(pid: int) -> Ed25519Verifier:
    """Unpickled in a worker, this ends the worker at once, as a kill or an OOM would."""
    if os.getpid() != pid:
        os._exit(1)
    raise AssertionError("never unpickled in the process that made it")


class DyingVerifier(Ed25519Verifier):
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return _die_unless_in, (os.getpid(),)


def test_a_dead_worker_s_spans_are_checked_here(spanned: Domain) -> None:
    _edit(45)(spanned)
    with spanned.sessions() as session:
        verifier = DyingVerifier(spanned.home.public_key())
        one_pass = verify_store(session, verifier, workers=1)
        spans = verify_store(session, verifier, workers=2, span_entries=SPAN)
    assert one_pass.first_bad_seq == 45 and spans.to_dict() == one_pass.to_dict()
