"""The REST API for licenses, jobs, products, filings and disclosure: roles, company
boundaries, and bad input as 4xx JSON that changes nothing."""

from __future__ import annotations

import base64
import csv
import io
from datetime import date, timedelta

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from audit_log import AuditEntry
from operators.accounts import add_user, create_token, get_user
from products.review import review
from tests.conftest import AUTHORITY, World

QUERY = "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district"
PRICING = {"costs": {"compute": 600, "labour": 400}, "margin": 0.05, "sme_discount": 0.4}
NAMES = ("li", "mallory", "wang", "chen", "gao")


@pytest.fixture
def as_(world: World) -> dict[str, dict[str, str]]:
    """Authorization headers per user; gao works for the data authority."""
    with world.domain.transaction() as session:
        add_user(session, "gao", "authority", None, AUTHORITY)
        return {
            n: {"Authorization": f"Bearer {create_token(session, get_user(session, n), AUTHORITY)}"}
            for n in NAMES
        }


def _entries(world: World) -> int:
    with world.domain.transaction() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def _application() -> dict[str, object]:
    return {
        "datasets": ["enterprise_utilities"],
        "max_level": "L2",
        "purpose": "district statistics",
        "scenario": "园区招商",
        "valid_until": (date.today() + timedelta(days=20)).isoformat(),
        "epsilon": 3,
    }


def test_license_lifecycle_over_the_api(api: TestClient, as_, world: World) -> None:
    applied = api.post("/api/v1/licenses", json=_application(), headers=as_["li"])
    assert applied.status_code == 201 and applied.json()["status"] == "pending"
    license_id = applied.json()["id"]
    assert api.get(f"/api/v1/licenses/{license_id}", headers=as_["mallory"]).status_code == 404
    mine = api.get("/api/v1/licenses", headers=as_["mallory"]).json()["items"]
    assert license_id not in [lic["id"] for lic in mine]
    assert api.post(f"/api/v1/licenses/{license_id}/approve", json={}).status_code == 401
    for user in ("li", "chen", "wang"):
        refused = api.post(f"/api/v1/licenses/{license_id}/approve", json={}, headers=as_[user])
        assert refused.status_code == 403
    widened = api.post(
        f"/api/v1/licenses/{license_id}/approve", json={"epsilon": 50}, headers=as_["gao"]
    )
    assert widened.status_code == 422 and "raised" in widened.json()["detail"]
    approved = api.post(
        f"/api/v1/licenses/{license_id}/approve", json={"epsilon": 2}, headers=as_["gao"]
    )
    assert approved.json()["status"] == "active" and approved.json()["epsilon_total"] == 2
    pending = api.get("/api/v1/licenses?status=pending", headers=as_["chen"]).json()
    assert pending["items"] == []
    suspended = api.post(
        f"/api/v1/licenses/{license_id}/suspend", json={"reason": "audit"}, headers=as_["gao"]
    )
    assert suspended.json()["status"] == "suspended"
    job = api.post("/api/v1/jobs", json={"license_id": license_id, "sql": QUERY}, headers=as_["li"])
    assert job.status_code == 403 and job.json()["error"] == "license_invalid"
    api.post(f"/api/v1/licenses/{license_id}/reinstate", json={}, headers=as_["gao"])
    revoked = api.post(
        f"/api/v1/licenses/{license_id}/revoke", json={"reason": "breach"}, headers=as_["gao"]
    )
    assert revoked.json()["status"] == "revoked"
    budget = api.get(f"/api/v1/licenses/{world.license_id}/budget", headers=as_["chen"])
    assert budget.status_code == 200 and budget.json()["charges"] == []


def test_a_delta_budget_is_asked_for_and_may_only_be_lowered(
    api: TestClient, as_, world: World
) -> None:
    applied = api.post(
        "/api/v1/licenses", json={**_application(), "delta": 4e-6}, headers=as_["li"]
    ).json()
    assert applied["delta_total"] == 4e-6 and applied["delta_spent"] == 0
    assert applied["requested"]["delta"] == 4e-6
    url = f"/api/v1/licenses/{applied['id']}/approve"
    widened = api.post(url, json={"delta": 1e-3}, headers=as_["gao"])
    assert widened.status_code == 422 and "δ may be lowered" in widened.json()["detail"]
    approved = api.post(url, json={"delta": 2e-6}, headers=as_["gao"]).json()
    assert approved["delta_total"] == 2e-6 and approved["delta_remaining"] == 2e-6
    bad = api.post("/api/v1/licenses", json={**_application(), "delta": 1.5}, headers=as_["li"])
    assert bad.status_code == 422
    budget = api.get(f"/api/v1/licenses/{world.license_id}/budget", headers=as_["chen"]).json()
    assert budget["delta_total"] == 1e-5 and budget["delta_spent"] == 0


def test_row_filters_over_the_api(api: TestClient, as_, world: World) -> None:
    """An application may ask for some rows; the approval adds filters, never removes one."""
    body = {
        **_application(),
        "datasets": ["enterprise_utilities", "social_insurance"],
        "row_filters": {"enterprise_utilities": "district = '镇海区'"},
    }
    applied = api.post("/api/v1/licenses", json=body, headers=as_["li"])
    assert applied.status_code == 201, applied.text
    license_id = applied.json()["id"]
    assert applied.json()["row_filters"] == body["row_filters"]
    approve = f"/api/v1/licenses/{license_id}/approve"
    for filters, wrong in [
        ({"social_insurance": "district = '镇海区'"}, "district"),  # not a column of it
        ({"enterprise_utilities": ""}, "row_filters"),  # no taking a filter off
        ({"no_such": "x = 1"}, "no_such"),
    ]:
        refused = api.post(approve, json={"row_filters": filters}, headers=as_["gao"])
        assert refused.status_code == 422 and wrong in refused.text, refused.text
    granted = {"enterprise_utilities": "1 = 1", "social_insurance": "insured_staff >= 20"}
    approved = api.post(approve, json={"row_filters": granted}, headers=as_["gao"])
    assert approved.status_code == 200, approved.text
    shown = api.get(f"/api/v1/licenses/{license_id}", headers=as_["li"]).json()
    assert shown["row_filters"] == {
        "enterprise_utilities": "district = '镇海区' AND 1 = 1",
        "social_insurance": "insured_staff >= 20",
    }


def _released_job(api: TestClient, as_, world: World) -> int:
    body = {"license_id": world.license_id, "sql": QUERY}
    job_id = api.post("/api/v1/jobs", json=body, headers=as_["li"]).json()["id"]
    with world.domain.transaction() as session:
        review(session, world.domain.home, job_id, get_user(session, "wang"), "approve", "ok")
    return job_id


@pytest.mark.sandbox
def test_release_to_market_to_disclosure(api: TestClient, as_, world: World) -> None:
    job_id = _released_job(api, as_, world)
    job = api.get(f"/api/v1/jobs/{job_id}", headers=as_["li"]).json()
    assert job["status"] == "released" and job["progress"] == 100
    package = api.get(f"/api/v1/jobs/{job_id}/package", headers=as_["li"])
    assert package.status_code == 200 and package.content[:2] == b"PK"
    assert api.get(f"/api/v1/jobs/{job_id}/package", headers=as_["mallory"]).status_code == 404
    events = api.get(f"/api/v1/jobs/{job_id}/events", headers=as_["li"])
    assert "event: status" in events.text and "event: end" in events.text
    listing = {
        "release_id": job["release_id"],
        "name": "分区企业数",
        "scenario": "招商",
        "usage_scope": "no resale",
        "update_cycle": "monthly",
        "pricing": PRICING,
    }
    assert api.post("/api/v1/products", json=listing, headers=as_["mallory"]).status_code == 404
    created = api.post("/api/v1/products", json=listing, headers=as_["li"])
    assert created.status_code == 201, created.text
    product = created.json()
    assert product["pricing"]["tiers"] == {"public_interest": 0, "sme": 630, "commercial": 1050}
    market = api.get("/api/v1/products").json()["items"]
    assert [p["id"] for p in market] == [product["id"]]
    checks = api.get(f"/api/v1/products/{product['id']}/verification").json()
    assert checks["ok"], checks
    signed = api.get(f"/api/v1/products/{product['id']}/manifest").json()
    key = load_pem_public_key(signed["public_key_pem"].encode())
    key.verify(  # type: ignore[union-attr]
        base64.b64decode(signed["signature_b64"]), base64.b64decode(signed["manifest_b64"])
    )
    filings = api.get("/api/v1/filings", headers=as_["chen"]).json()["items"]
    assert [f["kind"] for f in filings] == ["listing"] and filings[0]["usage_scope"]
    assert api.get("/api/v1/filings", headers=as_["mallory"]).json()["items"] == []
    assert api.get("/api/v1/filings").status_code == 401
    use = {"buyer": "宁波银行", "buyer_type": "sme", "quantity": 2}
    path = f"/api/v1/products/{product['id']}/usage"
    assert api.post(path, json=use, headers=as_["mallory"]).status_code == 404
    assert api.post(path, json=use, headers=as_["li"]).json()["amount"] == 1260
    assert api.get(path, headers=as_["mallory"]).status_code == 404
    assert len(api.get(path, headers=as_["chen"]).json()["items"]) == 1
    report = api.get("/api/v1/disclosure").json()
    assert report["totals"]["income"] == 1260 and report["totals"]["uses"] == 2
    exported = api.get("/api/v1/disclosure.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sum(float(r["amount_yuan"]) for r in rows if r["kind"] == "income") == 1260
    assert "宁波银行" not in exported.text


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/api/v1/products", {"release_id": 1, "name": "x", "pricing": {}}, 422),
        ("post", "/api/v1/products", {"release_id": 999, "name": "x", "pricing": PRICING}, 404),
        ("get", "/api/v1/products/99999999999", None, 422),
        ("get", "/api/v1/disclosure?period=2026-Q9", None, 422),
        ("post", "/api/v1/licenses", {**_application(), "max_level": "L4"}, 422),
        ("post", "/api/v1/licenses", {**_application(), "datasets": ["nope"]}, 404),
        ("post", "/api/v1/licenses", {**_application(), "epsilon": "lots"}, 422),
        ("post", "/api/v1/policy/check", {"license_id": 1, "sql": "SELEC x FRM"}, 422),
        ("get", "/api/v1/jobs/0", None, 422),
    ],
    ids=[
        "pricing missing costs",
        "unknown release",
        "huge id",
        "bad period",
        "L4 application",
        "unknown dataset",
        "epsilon not a number",
        "malformed sql check",
        "zero id",
    ],
)
def test_bad_input_is_4xx_json(api, as_, world: World, method, path, body, status) -> None:
    before = _entries(world)
    response = getattr(api, method)(path, headers=as_["li"], **({"json": body} if body else {}))
    assert response.status_code == status, response.text
    assert isinstance(response.json(), dict)
    assert api.get("/healthz").status_code == 200
    with world.domain.transaction() as session:
        added = session.scalars(select(AuditEntry.action).where(AuditEntry.seq > before)).all()
    # the refusal is logged (and, by the audit log, the token's use): nothing else changed
    assert {a for a in added if a != "request.refused" and not a.startswith("token.")} == set()


def test_policy_check_shows_the_rewrite_without_running(api, as_, world: World) -> None:
    body = {"license_id": world.license_id, "sql": QUERY.replace("COUNT(*)", "AVG(water_fee)")}
    decision = api.post("/api/v1/policy/check", json=body, headers=as_["li"]).json()
    assert decision["decision"] == "rewrite" and "LEAST" in decision["sql"].upper()
    assert api.post("/api/v1/policy/check", json=body, headers=as_["mallory"]).status_code == 404
    assert api.get("/api/v1/jobs", headers=as_["li"]).json()["items"] == []


def test_notebook_upload_is_validated(api, as_, world: World) -> None:
    files = {"notebook": ("x.ipynb", b"not json", "application/json")}
    data = {"license_id": str(world.license_id)}
    refused = api.post("/api/v1/jobs/notebook", data=data, files=files, headers=as_["li"])
    assert refused.status_code == 422 and "notebook" in refused.json()["detail"]
    other = api.post("/api/v1/jobs/notebook", data=data, files=files, headers=as_["chen"])
    assert other.status_code == 403


def test_revoked_token_is_401(api, as_, world: World) -> None:
    from operators.accounts import revoke_tokens

    assert api.get("/api/v1/jobs", headers=as_["li"]).status_code == 200
    with world.domain.transaction() as session:
        revoke_tokens(session, get_user(session, "li"), AUTHORITY)
    assert api.get("/api/v1/jobs", headers=as_["li"]).status_code == 401
