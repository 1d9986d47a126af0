"""Verifying the log over the API: POST /verifications starts a full verification in the
background (202 and a Location), its record gives progress and then the result, and
GET /verify answers at once from the signed head and the latest result, never running
a full verification inside the request."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from audit_log import checkpoint
from audit_log.records import AuditEntry
from audit_log.verification_runs import VerificationRun, begin_verification
from core.db import utcnow
from core.runs import STALE_SECONDS
from operators.accounts import create_token, get_user
from tests.conftest import AUTHORITY, World

BASE = "/api/v1/audit"


@pytest.fixture
def api(world: World) -> tuple[TestClient, dict[str, dict[str, str]]]:
    from service.api import create_app

    with world.domain.transaction() as session:
        names = ("li", "chen", "mallory")
        tokens = {n: create_token(session, get_user(session, n), AUTHORITY) for n in names}
        checkpoint(session)  # a signed head for GET /verify to check
    headers = {n: {"Authorization": f"Bearer {t}"} for n, t in tokens.items()}
    return TestClient(create_app(world.domain.settings)), headers


def _finished(client: TestClient, location: str, chen: dict[str, str]) -> dict[str, Any]:
    """Follow a verification until it ends (bounded), checking progress only grows."""
    seen: list[int] = []
    for _ in range(600):
        run: dict[str, Any] = client.get(location, headers=chen).json()
        seen.append(run["checked"])
        if run["state"] != "running":
            assert seen == sorted(seen)
            return run
        threading.Event().wait(0.1)
    raise AssertionError("the verification never finished")


def _started(client: TestClient, chen: dict[str, str]) -> str:
    response = client.post(f"{BASE}/verifications", headers=chen)
    assert response.status_code == 202
    body = response.json()
    assert response.headers["location"] == f"{BASE}/verifications/{body['id']}"
    assert body["state"] in ("running", "done") and body["started_by"] == "chen"
    return str(response.headers["location"])


def _alerts(world: World) -> int:
    with world.domain.transaction() as session:
        return int(
            session.scalar(
                select(func.count()).where(AuditEntry.action == "alert.verification_failed")
            )
        )


def _tamper(world: World) -> None:
    """An insider edits one entry in place."""
    with world.domain.transaction() as session:
        entry = session.get(AuditEntry, 2)
        entry.details = {**entry.details, "edited": True}


def test_only_regulators_verify(api: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, headers = api
    location = _started(client, headers["chen"])
    for name in ("li", "mallory"):  # the authority and an operator
        assert client.post(f"{BASE}/verifications", headers=headers[name]).status_code == 403
        assert client.get(location, headers=headers[name]).status_code == 403
        refused = client.get(f"{BASE}/verify", headers=headers[name])
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
    assert client.post(f"{BASE}/verifications").status_code == 401
    missing = client.get(f"{BASE}/verifications/nope", headers=headers["chen"])
    assert missing.status_code == 404 and missing.json()["code"] == "verification_missing"
    _finished(client, location, headers["chen"])


def test_a_verification_runs_to_a_result_the_cached_answer_then_shows(
    api: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = api
    chen = headers["chen"]
    before = client.get(f"{BASE}/verify", headers=chen).json()
    assert before["ok"] and before["signed_head_ok"] and before["last_result"] is None
    run = _finished(client, _started(client, chen), chen)
    assert run["state"] == "done" and run["ok"] is True and run["interrupted"] is False
    assert run["checked"] == run["total"] == run["result"]["entries"] > 0
    assert run["result"]["ok"] and run["finished_at"]
    after = client.get(f"{BASE}/verify", headers=chen).json()
    assert after["last_result"]["id"] == run["id"] and after["ok"]


def test_a_tampered_log_gives_a_failed_result_and_an_alert(
    world: World, api: tuple[TestClient, dict[str, dict[str, str]]]
) -> None:
    client, headers = api
    chen = headers["chen"]
    with world.domain.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM audit_entries WHERE seq = 3")
    run = _finished(client, _started(client, chen), chen)
    assert run["state"] == "done" and run["ok"] is False
    assert run["result"]["first_bad_seq"] == 3 and run["problem"]
    alerts = client.get(f"{BASE}/alerts?rule=verification_failed", headers=chen).json()
    assert [a["details"]["first_bad_seq"] for a in alerts["items"]] == [3]
    assert alerts["items"][0]["actor"] == "sluice"
    cached = client.get(f"{BASE}/verify", headers=chen).json()
    assert cached["ok"] is False and cached["last_result"]["ok"] is False


def test_get_verify_never_runs_a_full_verification(
    world: World, api: tuple[TestClient, dict[str, dict[str, str]]]
) -> None:
    client, headers = api
    _tamper(world)
    alerts = _alerts(world)
    answer = client.get(f"{BASE}/verify", headers=headers["chen"])
    assert answer.status_code == 200
    # a full verification would have found the edit; this answer read only the head
    assert answer.json()["ok"] is True and answer.json()["latest"] is None
    with world.domain.transaction() as session:
        assert session.scalar(select(func.count()).select_from(VerificationRun)) == 0
    assert _alerts(world) == alerts
    run = _finished(client, _started(client, headers["chen"]), headers["chen"])
    assert run["ok"] is False  # while a full one does find it


def test_another_server_sees_the_run_and_a_dead_one_reads_interrupted(
    world: World, api: tuple[TestClient, dict[str, dict[str, str]]]
) -> None:
    from service.api import create_app

    client, headers = api
    chen = headers["chen"]
    with world.domain.transaction() as session:  # a process started one, then died
        dead, _ = begin_verification(session, "deadbeef00000003", "chen", "api")
        dead.beat_at = utcnow() - timedelta(seconds=STALE_SECONDS + 5)
    other = TestClient(create_app(world.domain.settings))
    shown = other.get(f"{BASE}/verifications/deadbeef00000003", headers=chen).json()
    assert shown["state"] == "failed" and shown["interrupted"] is True
    location = _started(client, chen)  # the dead one does not stand in the way
    assert location != f"{BASE}/verifications/deadbeef00000003"
    run = _finished(other, location, chen)  # followed on the other server
    assert run["state"] == "done" and run["ok"] is True
    assert other.get(f"{BASE}/verify", headers=chen).json()["last_result"]["id"] == run["id"]
