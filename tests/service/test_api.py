"""The REST API: tokens, roles, company boundaries, and bad input as 4xx JSON."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from audit_log import AuditEntry
from core.db import utcnow
from jobs.records import Job
from operators import close_token_use
from operators.accounts import create_token, get_user
from tests.conftest import AUTHORITY, World

GOOD_SQL = "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district"


@pytest.fixture
def tokens(world: World) -> dict[str, str]:
    with world.domain.transaction() as session:
        return {
            n: create_token(session, get_user(session, n), AUTHORITY)
            for n in ("li", "mallory", "wang", "chen")
        }


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_health_and_openapi(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert "/api/v1/jobs" in api.get("/openapi.json").json()["paths"]


def test_no_or_bad_token_is_401(api: TestClient) -> None:
    assert api.get("/api/v1/jobs").status_code == 401
    response = api.get("/api/v1/jobs", headers=auth("slc_forged"))
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"


def test_wrong_role_is_403(api: TestClient, tokens, world: World) -> None:
    assert api.get("/api/v1/audit/entries", headers=auth(tokens["li"])).status_code == 403
    body = {"license_id": world.license_id, "sql": GOOD_SQL}
    assert api.post("/api/v1/jobs", json=body, headers=auth(tokens["chen"])).status_code == 403
    entries = api.get("/api/v1/audit/entries", headers=auth(tokens["chen"]))
    assert entries.status_code == 200 and entries.json()["items"][0]["seq"] == 1


@pytest.mark.sandbox
def test_operator_submits_and_runs_a_job(api: TestClient, tokens, world: World) -> None:
    body = {"license_id": world.license_id, "sql": GOOD_SQL}
    created = api.post("/api/v1/jobs", json=body, headers=auth(tokens["li"]))
    assert created.status_code == 202
    assert created.headers["location"] == f"/api/v1/jobs/{created.json()['id']}"
    job = api.get(f"/api/v1/jobs/{created.json()['id']}", headers=auth(tokens["li"])).json()
    assert job["status"] == "awaiting_review"  # the background task ran after the response


@pytest.mark.sandbox
def test_another_company_sees_404_and_cannot_use_the_license(api, tokens, world: World) -> None:
    body = {"license_id": world.license_id, "sql": GOOD_SQL}
    job_id = api.post("/api/v1/jobs", json=body, headers=auth(tokens["li"])).json()["id"]
    assert api.get(f"/api/v1/jobs/{job_id}", headers=auth(tokens["mallory"])).status_code == 404
    assert api.get("/api/v1/jobs", headers=auth(tokens["mallory"])).json()["items"] == []
    stolen = api.post("/api/v1/jobs", json=body, headers=auth(tokens["mallory"]))
    assert stolen.status_code == 404  # exactly like a licence that does not exist
    assert api.get(f"/api/v1/jobs/{job_id}", headers=auth(tokens["wang"])).status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"license_id": 1, "sql": "SELEC x FRM"}, 422),
        ({"license_id": "one", "sql": GOOD_SQL}, 422),
        ({"license_id": 999, "sql": GOOD_SQL}, 404),
        ({"sql": GOOD_SQL}, 422),
        ({"license_id": 1, "sql": "x" * 3_000_000}, 413),
    ],
    ids=["malformed sql", "wrong type", "unknown license", "missing field", "oversized"],
)
def test_bad_input_is_4xx_json_and_changes_nothing(api, tokens, world: World, body, status) -> None:
    with world.domain.transaction() as session:
        jobs_before = len(session.scalars(select(Job)).all())
    response = api.post("/api/v1/jobs", json=body, headers=auth(tokens["li"]))
    assert response.status_code == status
    assert isinstance(response.json(), dict)
    with world.domain.transaction() as session:
        assert len(session.scalars(select(Job)).all()) == jobs_before
    assert api.get("/healthz").status_code == 200


def test_domain_refusals_are_audited(api, tokens, world: World) -> None:
    api.post("/api/v1/jobs", json={"license_id": 999, "sql": GOOD_SQL}, headers=auth(tokens["li"]))
    with world.domain.transaction() as session:
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert last.action == "request.refused" and last.actor == "li"


def test_products_are_public(api: TestClient) -> None:
    assert api.get("/api/v1/products").json() == {"items": [], "next_cursor": None}
    assert api.get("/api/v1/products/5").status_code == 404


def test_token_use_is_audited_without_the_token(api, tokens, world: World) -> None:
    api.get("/api/v1/jobs", headers=auth(tokens["li"]))
    with world.domain.transaction() as session:  # the hour's count is logged when it ends
        close_token_use(session, utcnow() + timedelta(hours=1))
    with world.domain.transaction() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "token.used")).all()
        assert [e.actor for e in entries] == ["li"]
        assert tokens["li"] not in str(entries[0].to_dict())
