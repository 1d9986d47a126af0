"""Every API error is RFC 9457 problem details, over the app's own routes: no token, a
wrong role, bad input (never echoed), unknown records and paths, a wrong method, a body
too large and an unexpected failure. Also: stable operation ids and offline docs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from operators.accounts import create_token, get_user
from service.problems import MEDIA_TYPE
from tests.conftest import AUTHORITY, World

SECRET = "planted-secret-3141592653"
RFC_MEMBERS = {"type", "title", "status", "detail", "instance"}


@pytest.fixture
def app(world: World) -> FastAPI:
    from service.api import create_app

    return create_app(world.domain.settings)


@pytest.fixture
def api(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def tokens(world: World) -> dict[str, str]:
    with world.domain.transaction() as session:
        return {n: create_token(session, get_user(session, n), AUTHORITY) for n in ("li", "chen")}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == MEDIA_TYPE, response.headers
    body = response.json()
    assert RFC_MEMBERS <= set(body), body
    assert body["status"] == status and body["type"] == f"urn:sluice:problem:{body['error']}"
    assert body["title"] and body["detail"]
    return body


def operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    document = app.openapi()
    return [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def concrete(path: str, value: str = "1") -> str:
    return re.sub(r"\{[^}]+\}", value, path)


def test_every_guarded_route_without_a_token_is_a_401_problem(app: FastAPI, api: TestClient):
    guarded = [(m, p) for m, p, op in operations(app) if op.get("security")]
    assert len(guarded) > 25
    for method, path in guarded:
        response = api.request(method, concrete(path))
        body = assert_problem(response, 401)
        assert body["instance"] == concrete(path)
        assert response.headers["www-authenticate"] == "Bearer"


def test_every_route_with_an_id_refuses_a_bad_one_as_a_422_problem(
    app: FastAPI, api: TestClient, tokens: dict[str, str]
) -> None:
    with_ids = [(m, p) for m, p, _ in operations(app) if "{" in p]
    assert len(with_ids) > 15
    for method, path in with_ids:
        token = tokens["chen" if "/audit/" in path else "li"]
        response = api.request(
            # too long for a name, not a number: every path parameter refuses it
            method,
            concrete(path, SECRET * 3),
            headers={"Authorization": f"Bearer {token}"},
        )
        # a role check may answer first (403); either way the body is a problem
        assert response.status_code in (403, 422), (path, response.text)
        body = assert_problem(response, response.status_code)
        if response.status_code == 422:
            assert body["errors"] and all(set(e) == {"loc", "msg", "type"} for e in body["errors"])


def test_invalid_input_is_never_echoed(api: TestClient, tokens: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {tokens['li']}"}
    sent = {"license_id": SECRET, "sql": 7, "extra": SECRET}
    body = assert_problem(api.post("/api/v1/jobs", json=sent, headers=headers), 422)
    assert SECRET not in str(body)
    assert {tuple(e["loc"]) for e in body["errors"]} >= {("body", "license_id")}
    assert "license_id" in body["detail"]


def test_domain_refusals_carry_sluice_members(
    api: TestClient, tokens: dict[str, str], world: World
) -> None:
    headers = {"Authorization": f"Bearer {tokens['li']}"}
    missing = assert_problem(api.get("/api/v1/jobs/999", headers=headers), 404)
    assert missing["error"] == "not_found" and "GET /api/v1/jobs" in missing["suggestion"]
    wrong_role = assert_problem(api.get("/api/v1/audit/entries", headers=headers), 403)
    assert wrong_role["error"] == "permission_denied"
    check = {"license_id": world.license_id, "sql": "SELECT legal_person FROM enterprise_utilities"}
    denied = api.post("/api/v1/policy/check", json=check, headers=headers)
    assert denied.status_code == 200  # a check answers with its decision, not an error


def test_unknown_paths_wrong_methods_and_big_bodies_are_problems(api: TestClient) -> None:
    assert assert_problem(api.get("/api/v1/nothing-here"), 404)["error"] == "not_found"
    body = assert_problem(api.delete("/api/v1/jobs"), 405)
    assert body["error"] == "method_not_allowed"
    huge = api.post("/api/v1/jobs", content=b"x", headers={"content-length": "999999999999"})
    assert assert_problem(huge, 413)["error"] == "too_large"


def test_an_unexpected_failure_is_a_500_problem_that_leaks_nothing(app: FastAPI) -> None:
    @app.get("/api/v1/test-explodes")
    def explode() -> None:
        raise RuntimeError(SECRET)

    response = TestClient(app, raise_server_exceptions=False).get("/api/v1/test-explodes")
    body = assert_problem(response, 500)
    assert body["error"] == "internal_error" and SECRET not in response.text


def test_the_document_declares_every_error_as_a_problem(app: FastAPI) -> None:
    document = app.openapi()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for method, path, operation in operations(app):
        for status, response in operation["responses"].items():
            if status[0] in "45":
                assert list(response["content"]) == [MEDIA_TYPE], (method, path, status)


def test_operation_ids_are_explicit_and_unique(app: FastAPI) -> None:
    ids = [op["operationId"] for _, _, op in operations(app)]
    assert len(ids) == len(set(ids)), sorted(ids)
    # FastAPI's generated ids end in the path and method (e.g. get_jobs_api_v1_jobs_get)
    assert not [i for i in ids if "api_v1" in i or re.search(r"_(get|post|put|delete)$", i)]
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", i) for i in ids), ids


def test_docs_and_redoc_reference_no_external_url(api: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        response = api.get(page)
        assert response.status_code == 200
        html = response.text
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.I), page
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets and all(a.startswith("/docs/assets/") for a in assets), assets
        for asset in assets:
            fetched = api.get(asset)
            assert fetched.status_code == 200 and len(fetched.content) > 1000, asset
    assert "validatorUrl" in api.get("/docs").text
