"""Token use is one `token.used` entry per token per hour, carrying the exact count."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from audit_log import AuditEntry
from core.db import utcnow
from operators import TokenUse, close_token_use
from operators.accounts import (
    add_operator,
    add_user,
    authenticate,
    create_token,
    get_user,
    revoke_tokens,
)
from service.api import create_app
from service.domain import Domain
from tests.conftest import AUTHORITY, World

HOUR = datetime(2026, 3, 1, 9, 0, 0)


def _token(domain: Domain, name: str = "u") -> str:
    with domain.transaction() as session:
        add_operator(session, f"{name}-co", AUTHORITY)
        user = add_user(session, name, "operator", f"{name}-co", AUTHORITY)
        return create_token(session, user, AUTHORITY)


def _used(domain: Domain) -> list[dict]:
    with domain.transaction() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "token.used").order_by(AuditEntry.seq)
        )
        return [row.to_dict() for row in rows]


def test_500_uses_in_one_hour_are_one_entry_with_count_500(domain: Domain) -> None:
    token = _token(domain)
    for n in range(500):
        with domain.transaction() as session:
            authenticate(session, token, HOUR + timedelta(seconds=7 * n))  # 09:00 to 09:58
    assert _used(domain) == []  # the hour is still counting
    with domain.transaction() as session:
        assert close_token_use(session, HOUR + timedelta(minutes=59)) == 0
        assert close_token_use(session, HOUR + timedelta(hours=1)) == 1
    [entry] = _used(domain)
    details = entry["details"]
    assert details["count"] == 500 and entry["actor"] == "u"
    assert details["period_start"] == "2026-03-01T09:00:00Z"
    assert details["first_used"] == "2026-03-01T09:00:00Z"
    assert details["last_used"] == "2026-03-01T09:58:13Z"
    assert token not in str(entry)
    with domain.transaction() as session:
        assert session.scalar(select(func.count()).select_from(TokenUse)) == 0
        assert close_token_use(session, HOUR + timedelta(hours=5)) == 0


def test_the_next_hours_first_request_logs_the_last_hour(domain: Domain) -> None:
    token, other = _token(domain, "a"), _token(domain, "b")
    for n in range(300):
        with domain.transaction() as session:
            authenticate(session, token, HOUR + timedelta(seconds=n))
    for n in range(200):
        with domain.transaction() as session:
            authenticate(session, token, HOUR + timedelta(hours=1, seconds=n))
    assert [e["details"]["count"] for e in _used(domain)] == [300]
    with domain.transaction() as session:  # another token's request closes it just as well
        authenticate(session, other, HOUR + timedelta(hours=2))
    counts = [(e["actor"], e["details"]["count"]) for e in _used(domain)]
    assert counts == [("a", 300), ("a", 200)]


def test_revoking_a_token_logs_its_open_hour_first(domain: Domain) -> None:
    token = _token(domain)
    for _ in range(3):
        with domain.transaction() as session:
            authenticate(session, token)
    with domain.transaction() as session:
        revoke_tokens(session, get_user(session, "u"), AUTHORITY)
    with domain.transaction() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(2))
        last_two = [(e.action, e.details.get("count")) for e in rows]
    assert last_two == [("token.revoked", None), ("token.used", 3)]


def test_500_api_requests_are_counted_exactly(world: World) -> None:
    with world.domain.transaction() as session:
        token = create_token(session, get_user(session, "li"), AUTHORITY)
    api = TestClient(create_app(world.domain.settings))
    before = len(_used(world.domain))
    for _ in range(500):
        assert api.get("/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}).is_success
    with world.domain.transaction() as session:
        close_token_use(session, utcnow() + timedelta(hours=1))
    entries = _used(world.domain)[before:]
    li = [e for e in entries if e["actor"] == "li"]
    # one entry per hour the requests spanned (two only if they crossed the hour)
    assert 1 <= len(li) <= 2 and sum(e["details"]["count"] for e in li) == 500
