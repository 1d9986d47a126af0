"""The log: appends verify; every kind of tampering, live or in an export, is caught and located."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text

from audit_log import (
    AuditAction,
    AuditEntry,
    append,
    checkpoint,
    configure_log,
    get_suite,
    list_heads,
    verify_export,
    verify_store,
)
from audit_log.merkle import Frontier
from audit_log.state import GENESIS, entry_digests
from core.errors import Conflict, InvalidInput
from service.domain import Domain
from tests.audit_log.conftest import ACTOR, EVERY, SIZE, fill, open_log_domain


def test_appends_verify_and_heads_are_signed_every_n(logged: Domain) -> None:
    with logged.transaction() as session:
        result = verify_store(session)
        heads = [h.size for h in list_heads(session)]
    assert result.ok and result.entries == SIZE, result.to_dict()
    assert heads == list(range(EVERY, SIZE + 1, EVERY))
    assert result.signed_size == heads[-1] and "signed heads" in result.checks


def test_entry_commits_with_the_change_or_not_at_all(logged: Domain) -> None:
    with pytest.raises(RuntimeError), logged.transaction() as session:
        append(session, ACTOR, AuditAction.TOKEN_USED, "thing", {})
        raise RuntimeError("the state change failed")
    with logged.transaction() as session:
        assert verify_store(session).entries == SIZE
        append(session, ACTOR, AuditAction.TOKEN_USED, "thing", {})
    with logged.transaction() as session:
        assert verify_store(session).ok


def test_checkpoint_signs_the_current_size_once(logged: Domain) -> None:
    with logged.transaction() as session:
        first = checkpoint(session)
        again = checkpoint(session)
    assert first.size == SIZE and again.id == first.id


def _rewrite_from(domain: Domain, seq: int, details: dict[str, Any]) -> None:
    """The strong attacker: edit entry `seq`, then recompute every hash after it."""
    suite = get_suite("sha256")
    with domain.transaction() as session:
        rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        frontier, previous = Frontier(suite), GENESIS
        for row in rows:
            if row.seq == seq:
                row.details = {**row.details, **details}
            row.prev_hash = previous
            row.entry_hash, leaf = entry_digests(suite, row.to_dict())
            row.tree_nodes = b"".join(frontier.push(leaf))
            previous = row.entry_hash


def _sql(*statements: str) -> Callable[[Domain], None]:
    def run(domain: Domain) -> None:
        with domain.engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))

    return run


INSERT_COPY_OF_9 = (
    "INSERT INTO audit_entries (seq, at, actor, role, action, subject, details, prev_hash,"
    " entry_hash, tree_nodes) SELECT 10, at, actor, role, action, subject, details, prev_hash,"
    " 'ff' || substr(entry_hash, 3), tree_nodes FROM audit_entries WHERE seq = 9"
)

LIVE_TAMPERS: dict[str, tuple[Callable[[Domain], None], int | None]] = {
    "edit details": (_sql("UPDATE audit_entries SET details = '{\"n\": 99}' WHERE seq = 5"), 5),
    "edit actor": (_sql("UPDATE audit_entries SET actor = 'someone' WHERE seq = 3"), 3),
    "edit time": (
        _sql("UPDATE audit_entries SET at = '2020-01-01 00:00:00.000000' WHERE seq = 2"),
        2,
    ),
    "delete": (_sql("DELETE FROM audit_entries WHERE seq = 4"), 4),
    "rehash one": (
        _sql("UPDATE audit_entries SET entry_hash = '00' || substr(entry_hash, 3) WHERE seq = 6"),
        6,
    ),
    "reorder": (
        _sql(
            "UPDATE audit_entries SET seq = -7 WHERE seq = 7",
            "UPDATE audit_entries SET seq = 7 WHERE seq = 8",
            "UPDATE audit_entries SET seq = 8 WHERE seq = -7",
        ),
        7,
    ),
    "insert": (
        _sql(
            "UPDATE audit_entries SET seq = seq + 1000 WHERE seq >= 10",
            "UPDATE audit_entries SET seq = seq - 999 WHERE seq >= 1010",
            INSERT_COPY_OF_9,
        ),
        10,
    ),
    "truncate before the last head": (_sql("DELETE FROM audit_entries WHERE seq > 14"), 15),
    "rewrite with consistent hashes": (lambda d: _rewrite_from(d, 6, {"n": 0}), 5),
    "stored merkle hashes": (
        _sql("UPDATE audit_entries SET tree_nodes = zeroblob(32) WHERE seq = 9"),
        9,
    ),
    "index column": (_sql("UPDATE audit_entries SET license_id = 77 WHERE seq = 11"), 11),
    "head root": (
        _sql(
            "UPDATE audit_tree_heads SET root_hash = '00' || substr(root_hash, 3) WHERE size = 12"
        ),
        None,
    ),
}


@pytest.mark.parametrize("case", LIVE_TAMPERS, ids=list(LIVE_TAMPERS))
def test_tampering_with_the_live_store_is_caught(logged: Domain, case: str) -> None:
    tamper, first_bad = LIVE_TAMPERS[case]
    tamper(logged)
    with logged.transaction() as session:
        result = verify_store(session)
    assert not result.ok, result.to_dict()
    assert result.first_bad_seq == first_bad, result.problem


def test_a_rewrite_names_the_head_it_breaks(logged: Domain) -> None:
    _rewrite_from(logged, 6, {"n": 0})
    with logged.transaction() as session:
        result = verify_store(session)
    assert result.problem == "entries 5..8 do not match the signed tree head at size 8"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _position(lines: list[dict[str, Any]], seq: int) -> int:
    return next(i for i, r in enumerate(lines) if r["type"] == "entry" and r["seq"] == seq)


def _drop_entries(lines: list[dict[str, Any]], first: int) -> None:
    lines[:] = [r for r in lines if not (r["type"] == "entry" and r["seq"] >= first)]
    lines[:] = [r for r in lines if not (r["type"] == "tree_head" and first <= r["size"] < SIZE)]


def _swap(lines: list[dict[str, Any]], a: int, b: int) -> None:
    i, j = _position(lines, a), _position(lines, b)
    lines[i], lines[j] = lines[j], lines[i]


def _recomputed(lines: list[dict[str, Any]], seq: int) -> None:
    suite, previous = get_suite("sha256"), GENESIS
    for record in lines:
        if record["type"] != "entry":
            continue
        if record["seq"] == seq:
            record["details"]["n"] = -1
        record["prev_hash"] = previous
        fields = {k: v for k, v in record.items() if k != "type"}
        record["entry_hash"] = previous = entry_digests(suite, fields)[0]


def _heads(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in lines if r["type"] == "tree_head"]


def _swap_roots(lines: list[dict[str, Any]]) -> None:
    a, b = _heads(lines)[0], _heads(lines)[1]
    a["root_hash"], b["root_hash"] = b["root_hash"], a["root_hash"]


EXPORT_TAMPERS: dict[str, tuple[Callable[[list[dict[str, Any]]], None], int | None]] = {
    "edit": (lambda lines: lines[_position(lines, 5)]["details"].update(n=1000), 5),
    "delete": (lambda lines: lines.pop(_position(lines, 4)), 4),
    "insert": (lambda lines: lines.insert(_position(lines, 3), lines[_position(lines, 3)]), 4),
    "reorder": (lambda lines: _swap(lines, 6, 7), 6),
    "truncate": (lambda lines: _drop_entries(lines, 15), 15),
    "rewrite with consistent hashes": (lambda lines: _recomputed(lines, 10), 9),
    "drop the final head": (lambda lines: lines.pop(), SIZE),
    "forge head size": (lambda lines: lines[-1].update(size=3), None),
    "swap head roots": (_swap_roots, None),
    "another hash suite": (lambda lines: lines[0].update(hash_suite="sm3"), 1),
}


def _rewrite(path: Path, change: Callable[[list[dict[str, Any]]], None]) -> None:
    lines = _lines(path)
    change(lines)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), "utf-8")


def test_export_verifies_offline_with_the_public_key(logged: Domain, exported: Path) -> None:
    result = verify_export(exported, logged.home.public_key())
    assert result.ok and result.entries == SIZE and result.signed_size == SIZE
    assert "signed heads" in result.checks and result.heads == SIZE // EVERY + 1


# how verify_export reads: (workers, lines per chunk); chunks of 3 lines put chunk
# boundaries everywhere, two processes take the parallel path
READERS = {"one chunk": (1, 20_000), "chunks of 3 lines": (1, 3), "two processes": (2, 5)}


@pytest.mark.parametrize("reader", READERS, ids=list(READERS))
@pytest.mark.parametrize("case", EXPORT_TAMPERS, ids=list(EXPORT_TAMPERS))
def test_tampering_with_an_export_is_caught(
    logged: Domain, exported: Path, case: str, reader: str
) -> None:
    change, first_bad = EXPORT_TAMPERS[case]
    _rewrite(exported, change)
    workers, chunk_lines = READERS[reader]
    result = verify_export(exported, logged.home.public_key(), workers, chunk_lines)
    assert not result.ok
    assert result.first_bad_seq == first_bad, result.problem


@pytest.mark.parametrize("reader", READERS, ids=list(READERS))
def test_every_reader_accepts_a_good_export(logged: Domain, exported: Path, reader: str) -> None:
    result = verify_export(exported, logged.home.public_key(), *READERS[reader])
    assert result.ok and result.entries == SIZE and result.heads == SIZE // EVERY + 1


def test_export_fails_under_another_key(exported: Path) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    result = verify_export(exported, other)
    assert not result.ok and "bad signature" in str(result.problem)


def test_a_broken_line_is_named(logged: Domain, exported: Path) -> None:
    with exported.open("a", encoding="utf-8") as out:
        out.write("{not json\n")
    result = verify_export(exported, logged.home.public_key())
    assert not result.ok and result.problem == f"line {len(_lines_raw(exported))} is not JSON"


def _lines_raw(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_sm3_suite_is_fixed_at_init_and_named_in_every_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = open_log_domain(tmp_path, monkeypatch, suite="sm3")
    fill(domain, 9)
    with domain.transaction() as session:
        assert verify_store(session).ok
        assert {h.hash_suite for h in list_heads(session)} == {"sm3"}
        first = session.get(AuditEntry, 1)
        assert first is not None
        assert first.entry_hash == entry_digests(get_suite("sm3"), first.to_dict())[0]
        with pytest.raises(Conflict, match="fixed when the domain was initialised"):
            configure_log(session, "sha256", 10)
    path = tmp_path / "sm3.jsonl"
    with domain.transaction() as session:
        from audit_log import export_entries

        export_entries(session, path)
    assert verify_export(path, domain.home.public_key()).ok


@pytest.mark.parametrize(("suite", "every"), [("md5", 10), ("sha256", 0)])
def test_bad_log_settings_are_refused(logged: Domain, suite: str, every: int) -> None:
    with pytest.raises(InvalidInput), logged.transaction() as session:
        configure_log(session, suite, every)
