"""A domain whose log signs a head every 4 entries, filled with 21 entries."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit_log import Actor, AuditAction, append, export_entries
from service.domain import Domain, init_domain
from service.settings import Settings

ACTOR = Actor("tester", "admin")
EVERY = 4
SIZE = 21


def open_log_domain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suite: str = "sha256"
) -> Domain:
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SLUICE_DATABASE_URL", raising=False)
    monkeypatch.setenv("SLUICE_AUDIT_CHECKPOINT_EVERY", str(EVERY))
    monkeypatch.setenv("SLUICE_AUDIT_HASH", suite)
    return init_domain(Settings())[0]


def fill(domain: Domain, upto: int = SIZE) -> None:
    with domain.transaction() as session:
        for n in range(2, upto + 1):
            details = {"n": n, "note": "数据可用不可见", "license": 1 + n % 2, "share": n / 8}
            append(session, ACTOR, AuditAction.TOKEN_USED, f"thing:{n}", details)


@pytest.fixture
def logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Domain:
    domain = open_log_domain(tmp_path, monkeypatch)
    fill(domain)
    return domain


@pytest.fixture
def exported(logged: Domain, tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    with logged.transaction() as session:
        export_entries(session, path)
    return path
