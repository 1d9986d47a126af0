"""Kept heads: an insider who holds the database and the key cannot shorten, rewrite or fork
the log once a regulator or a witness holds a head; an honest extension still passes."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from audit_log import (
    AuditEntry,
    HeadTicker,
    TreeHead,
    append,
    checkpoint,
    get_suite,
    list_heads,
    load_verifier,
    parse_heads,
    push_heads,
    read_witness_dir,
    sign_stale_tail,
    verify_export,
    verify_store,
)
from audit_log.merkle import Frontier
from audit_log.state import GENESIS, entry_digests
from core.db import utcnow
from service.domain import Domain, open_domain
from service.settings import Settings
from tests.audit_log.conftest import ACTOR, SIZE, fill, open_log_domain
from tests.conftest import run_cli

Head = dict[str, Any]


def _kept(domain: Domain) -> list[Head]:
    """What a regulator keeps: the output of `audit heads --json` at this moment."""
    with domain.transaction() as session:
        checkpoint(session)
        return [h.to_dict() for h in list_heads(session)]


def _copy(domain: Domain, tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> Domain:
    """The insider's copy of the domain's home (database and keys)."""
    target = tmp_path / name
    shutil.copytree(domain.home.root, target)
    monkeypatch.setenv("SLUICE_HOME", str(target))
    return open_domain(Settings())


def _verify(domain: Domain, kept: list[Head]) -> Any:
    verifier = load_verifier(domain.home.public_key_path.read_bytes())
    with domain.transaction() as session:
        return verify_store(session, verifier, kept)


def _resign(domain: Domain, after: int) -> None:
    """The insider drops heads past `after` and signs the log as it now stands."""
    with domain.transaction() as session:
        session.execute(delete(TreeHead).where(TreeHead.size > after))
    with domain.transaction() as session:
        checkpoint(session)


def _truncate(domain: Domain, keep: int) -> None:
    with domain.transaction() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq > keep))
        session.execute(delete(TreeHead).where(TreeHead.size > keep))


def _recompute(domain: Domain, seq: int, **changes: Any) -> None:
    """Change entry `seq` and recompute every hash and stored node after it."""
    suite = get_suite("sha256")
    with domain.transaction() as session:
        frontier, previous = Frontier(suite), GENESIS
        for row in session.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
            if row.seq == seq:
                for name, value in changes.items():
                    setattr(row, name, value)
            row.prev_hash = previous
            row.entry_hash, leaf = entry_digests(suite, row.to_dict())
            row.tree_nodes = b"".join(frontier.push(leaf))
            previous = row.entry_hash


def _rewrite(domain: Domain, seq: int) -> None:
    """Edit entry `seq`, recompute every hash after it, and re-sign every head."""
    with domain.transaction() as session:
        details = session.get(AuditEntry, seq).details  # type: ignore[union-attr]
    _recompute(domain, seq, details={**details, "n": -1})
    _resign(domain, 0)


@pytest.fixture
def logged_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Domain, list[Head]]:
    domain = open_log_domain(tmp_path, monkeypatch)
    fill(domain)
    return domain, _kept(domain)


def test_an_honest_extension_of_kept_heads_passes(logged_and_kept) -> None:
    domain, kept = logged_and_kept
    with domain.transaction() as session:
        for n in range(5):
            append(session, ACTOR, "token.used", f"later:{n}", {"n": n})
    result = _verify(domain, kept)
    assert result.ok, result.to_dict()
    assert result.witnessed == len(kept) and "kept heads (witness)" in result.checks


def test_truncating_the_log_after_a_kept_head_fails(
    logged_and_kept, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain, kept = logged_and_kept
    copy = _copy(domain, tmp_path, "insider", monkeypatch)
    _truncate(copy, SIZE - 3)
    _resign(copy, SIZE - 3)
    assert _verify(copy, []).ok  # without a witness the shortened log looks whole
    result = _verify(copy, kept)
    assert not result.ok and "shortened" in str(result.problem)
    assert result.first_bad_seq == SIZE - 2


def test_rewriting_one_entry_fails_even_with_every_hash_and_head_redone(
    logged_and_kept, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain, kept = logged_and_kept
    copy = _copy(domain, tmp_path, "insider", monkeypatch)
    _rewrite(copy, 7)
    assert _verify(copy, []).ok  # the insider holds the key: its own heads all agree
    result = _verify(copy, kept)
    assert not result.ok and "not an extension" in str(result.problem)


def test_a_fork_from_a_common_head_fails_against_the_other_branch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = open_log_domain(tmp_path, monkeypatch)
    fill(base, 10)
    _kept(base)
    left = _copy(base, tmp_path, "left", monkeypatch)
    right = _copy(base, tmp_path, "right", monkeypatch)
    for side, branch in (("left", left), ("right", right)):
        with branch.transaction() as session:
            for n in range(6):
                append(session, ACTOR, "token.used", f"{side}:{n}", {"n": n})
    kept_left, kept_right = _kept(left), _kept(right)
    assert _verify(left, kept_left).ok and _verify(right, kept_right).ok
    result = _verify(right, kept_left)  # the regulator kept the left branch's head
    assert not result.ok and "forked" in str(result.problem)


def test_a_kept_head_signed_by_another_key_is_refused(
    logged_and_kept, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain, kept = logged_and_kept
    other = open_log_domain(tmp_path / "other", monkeypatch)
    fill(other)
    result = _verify(domain, _kept(other))
    assert not result.ok and "not signed by this domain's key" in str(result.problem)


def test_an_export_is_checked_against_kept_heads_too(
    logged_and_kept, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain, kept = logged_and_kept
    copy = _copy(domain, tmp_path, "insider", monkeypatch)
    _truncate(copy, SIZE - 5)
    path = tmp_path / "fresh-export.jsonl"
    from audit_log import export_entries

    with copy.transaction() as session:
        export_entries(session, path)
    public = domain.home.public_key()
    assert verify_export(path, public).ok  # a fresh export signs the shortened log
    result = verify_export(path, public, kept=kept)
    assert not result.ok and "shortened" in str(result.problem)


def test_an_old_unsigned_tail_is_reported(logged_and_kept) -> None:
    domain, _kept_heads = logged_and_kept
    with domain.transaction() as session:
        append(session, ACTOR, "token.used", "tail", {})
        last = session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()))
    with domain.transaction() as session:
        fresh = verify_store(session, unsigned_seconds=120)
    assert fresh.ok and fresh.unsigned_tail == 1
    _recompute(domain, last, at=utcnow() - timedelta(hours=2))  # a tail two hours old
    with domain.transaction() as session:
        result = verify_store(session, unsigned_seconds=120)
    assert not result.ok and "not covered by a signed head" in str(result.problem)


def test_a_head_is_signed_when_the_last_one_is_a_minute_old(logged_and_kept) -> None:
    domain, _kept_heads = logged_and_kept
    with domain.transaction() as session:
        latest = max(h.size for h in list_heads(session))
        old = (utcnow() - timedelta(seconds=61)).isoformat(timespec="microseconds") + "Z"
        session.execute(update(TreeHead).values(timestamp=old))
    with domain.transaction() as session:
        append(session, ACTOR, "token.used", "after a quiet minute", {})
        append(session, ACTOR, "token.used", "right after", {})
    with domain.transaction() as session:
        sizes = [h.size for h in list_heads(session)]
    assert sizes[-1] == latest + 1  # the first entry after a minute was signed, not the next


def test_a_folder_witness_takes_heads_once_and_refuses_a_shortened_log(
    logged_and_kept, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain, _ = logged_and_kept
    folder = tmp_path / "witness"
    verifier = load_verifier(domain.home.public_key_path.read_bytes())
    with domain.transaction() as session:
        first = push_heads(session, str(folder), verifier)
    with domain.transaction() as session:
        for n in range(3):
            append(session, ACTOR, "token.used", f"more:{n}", {})
    with domain.transaction() as session:
        second = push_heads(session, str(folder), verifier)
    assert first.pushed and second.pushed and second.pushed["size"] == SIZE + 3
    files = sorted(folder.glob("sth-*.json"))
    assert len(files) == 2 and all(f.stat().st_mode & 0o222 == 0 for f in files)
    record = json.loads(files[1].read_text())
    assert record["consistency"]["from_size"] == SIZE  # the witness can check the extension
    copy = _copy(domain, tmp_path, "insider", monkeypatch)
    _truncate(copy, SIZE)
    _resign(copy, SIZE)
    with copy.transaction() as session:
        refused = push_heads(session, str(folder), verifier)
    assert refused.pushed is None and not refused.verification.ok
    assert len(read_witness_dir(folder)) == 2


class _Witness(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def http_witness() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Handler", (_Witness,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/heads", received
    server.shutdown()
    thread.join()


def test_a_url_witness_receives_the_signed_head_by_post(logged_and_kept, http_witness) -> None:
    domain, kept = logged_and_kept
    url, received = http_witness
    verifier = load_verifier(domain.home.public_key_path.read_bytes())
    with domain.transaction() as session:
        append(session, ACTOR, "token.used", "new", {})
    with domain.transaction() as session:
        result = push_heads(session, url, verifier, kept)
    assert result.pushed is not None and len(received) == 1
    head = parse_heads(json.dumps(received[0]))
    assert head == [result.pushed] and head[0]["size"] == SIZE + 1
    assert received[0]["consistency"]["from_size"] == SIZE


@pytest.mark.slow
def test_cli_verify_with_witness_fails_on_truncation_and_passes_an_extension(
    logged_and_kept, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain, _ = logged_and_kept
    heads = run_cli("audit", "heads", "--json", home=domain.home.root, check=True).stdout
    kept = tmp_path / "kept-heads.json"
    kept.write_text(heads)
    copy = _copy(domain, tmp_path, "insider", monkeypatch)
    _truncate(copy, SIZE - 4)
    _resign(copy, SIZE - 4)
    honest = run_cli("audit", "verify", "--witness", str(kept), home=domain.home.root)
    shortened = run_cli("audit", "verify", "--witness", str(kept), home=copy.home.root)
    assert honest.returncode == 0, honest.stdout + honest.stderr
    assert shortened.returncode == 10 and "shortened" in shortened.stdout
    folder = tmp_path / "witness"
    pushed = run_cli("audit", "witness", "--push", str(folder), home=domain.home.root)
    assert pushed.returncode == 0 and len(list(folder.glob("sth-*.json"))) == 1
    checked = run_cli("audit", "witness", "--check", str(folder), home=copy.home.root)
    assert checked.returncode == 10


def test_a_quiet_tail_is_signed_once_the_last_head_is_a_minute_old(logged_and_kept) -> None:
    domain, _ = logged_and_kept
    with domain.transaction() as session:
        append(session, ACTOR, "token.used", "last before a quiet spell", {})
    with domain.transaction() as session:
        assert sign_stale_tail(session, 60) is None  # the last head is fresh
        old = (utcnow() - timedelta(seconds=61)).isoformat(timespec="microseconds") + "Z"
        session.execute(update(TreeHead).values(timestamp=old))
    with domain.transaction() as session:
        signed = sign_stale_tail(session, 60)
        assert signed is not None and signed.size == SIZE + 1
        assert sign_stale_tail(session, 0) is None  # nothing unsigned remains


def test_the_ticker_signs_a_quiet_tail_in_the_background(logged_and_kept) -> None:
    domain, _ = logged_and_kept
    with domain.transaction() as session:
        append(session, ACTOR, "token.used", "quiet", {})
    ticker = HeadTicker(domain.sessions, 0.01).start()
    try:
        for _ in range(3000):  # waits for the event, whatever the machine's speed
            with domain.transaction() as session:
                if max(h.size for h in list_heads(session)) == SIZE + 1:
                    break
            ticker.stopped.wait(0.01)
    finally:
        ticker.stop()
    with domain.transaction() as session:
        assert max(h.size for h in list_heads(session)) == SIZE + 1
