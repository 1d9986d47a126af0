"""The hash chain: appends verify; every kind of tampering is caught and located."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from audit_log import Actor, append, export_entries, verify_export, verify_store
from service.domain import Domain

ACTOR = Actor("tester", "admin")


@pytest.fixture
def logged(domain: Domain) -> Domain:
    with domain.transaction() as session:
        for n in range(2, 12):
            append(session, ACTOR, "test.step", f"thing:{n}", {"n": n, "note": "数据可用不可见"})
    return domain


def test_appends_verify(logged: Domain) -> None:
    with logged.transaction() as session:
        result = verify_store(session)
    assert result.ok and result.entries == 11  # domain.initialized + 10


def test_entry_commits_with_the_change_or_not_at_all(domain: Domain) -> None:
    with pytest.raises(RuntimeError), domain.transaction() as session:
        append(session, ACTOR, "test.step", "thing", {})
        raise RuntimeError("the state change failed")
    with domain.transaction() as session:
        assert verify_store(session).entries == 1


LIVE_TAMPERS: dict[str, tuple[str, int]] = {
    "edit details": ("UPDATE audit_entries SET details = '{\"n\": 99}' WHERE seq = 5", 5),
    "edit actor": ("UPDATE audit_entries SET actor = 'someone' WHERE seq = 3", 3),
    "delete": ("DELETE FROM audit_entries WHERE seq = 4", 4),
    "rehash one": (
        "UPDATE audit_entries SET entry_hash = '00' || substr(entry_hash, 3) WHERE seq = 6",
        6,
    ),
    "swap seq": (
        "UPDATE audit_entries SET seq = -7 WHERE seq = 7; "
        "UPDATE audit_entries SET seq = 7 WHERE seq = 8; "
        "UPDATE audit_entries SET seq = 8 WHERE seq = -7",
        7,
    ),
}


@pytest.mark.parametrize("case", LIVE_TAMPERS, ids=list(LIVE_TAMPERS))
def test_tampering_with_the_live_store_is_caught(logged: Domain, case: str) -> None:
    statement, first_bad = LIVE_TAMPERS[case]
    with logged.engine.begin() as connection:
        for part in statement.split("; "):
            connection.execute(text(part))
    with logged.transaction() as session:
        result = verify_store(session)
    assert not result.ok
    assert result.first_bad_seq == first_bad


def _rewrite(path: Path, change: Callable[[list[dict[str, Any]]], None]) -> None:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    change(lines)
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))


EXPORT_TAMPERS: dict[str, Callable[[list[dict[str, Any]]], None]] = {
    "edit": lambda lines: lines[3]["details"].update(n=1000),
    "delete": lambda lines: lines.pop(2),
    "insert": lambda lines: lines.insert(2, dict(lines[2])),
    "reorder": lambda lines: lines.insert(1, lines.pop(4)),
    "truncate": lambda lines: lines.__delitem__(slice(8, -1)),
    "drop signed head": lambda lines: lines.pop(),
    "forge head size": lambda lines: lines[-1].update(size=3),
}


@pytest.fixture
def exported(logged: Domain, tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    with logged.transaction() as session:
        export_entries(session, path, logged.home.signing_key())
    return path


def test_export_verifies_offline_with_the_public_key(logged: Domain, exported: Path) -> None:
    result = verify_export(exported, logged.home.public_key())
    assert result.ok and "signed head" in result.checks


@pytest.mark.parametrize("case", EXPORT_TAMPERS, ids=list(EXPORT_TAMPERS))
def test_tampering_with_an_export_is_caught(logged: Domain, exported: Path, case: str) -> None:
    _rewrite(exported, EXPORT_TAMPERS[case])
    assert not verify_export(exported, logged.home.public_key()).ok


def test_export_fails_under_another_key(exported: Path) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    result = verify_export(exported, other)
    assert not result.ok and result.problem == "bad head signature"
