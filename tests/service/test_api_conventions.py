"""API conventions (docs/api.md): cursor pagination on every list, and submissions
answered 202 Accepted with a Location, a denied query included."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from operators.accounts import create_token, get_user
from tests.conftest import AUTHORITY, World

DENIED_SQL = "SELECT enterprise_id, water_fee FROM enterprise_utilities"


@pytest.fixture
def as_(world: World) -> dict[str, dict[str, str]]:
    with world.domain.transaction() as session:
        return {
            n: {"Authorization": f"Bearer {create_token(session, get_user(session, n), AUTHORITY)}"}
            for n in ("li", "chen", "wang")
        }


def walk(api: TestClient, path: str, headers: dict[str, str], limit: int) -> list[list[Any]]:
    """Every page of a list, following next_cursor until it is null."""
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = api.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100


def test_every_list_route_answers_a_page(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        get = operations.get("get")
        if get is None:
            continue
        schema = get["responses"]["200"]["content"].get("application/json", {}).get("schema", {})
        assert schema.get("type") != "array", f"{path} answers a bare list"
        if schema.get("$ref", "").split("/")[-1].startswith("Page"):
            names = {p["name"] for p in get.get("parameters", [])}
            assert {"limit", "cursor"} <= names, path


def test_pages_cover_the_list_once_in_order(api: TestClient, as_, world: World) -> None:
    application = {
        "datasets": ["enterprise_utilities"],
        "max_level": "L2",
        "purpose": "p",
        "scenario": "s",
        "valid_until": (date.today() + timedelta(days=9)).isoformat(),
        "epsilon": 1,
    }
    for _ in range(4):
        assert api.post("/api/v1/licenses", json=application, headers=as_["li"]).status_code == 201
    whole = api.get("/api/v1/licenses", headers=as_["chen"]).json()
    assert whole["next_cursor"] is None and len(whole["items"]) == 5
    pages = walk(api, "/api/v1/licenses", as_["chen"], limit=2)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [lic["id"] for page in pages for lic in page] == [lic["id"] for lic in whole["items"]]
    # the audit log pages by sequence, with its filters kept across pages
    entries = walk(api, "/api/v1/audit/entries", as_["chen"], limit=7)
    seqs = [e["seq"] for page in entries for e in page]
    assert seqs == sorted(set(seqs)) and seqs[0] == 1 and len(entries) > 2
    datasets = walk(api, "/api/v1/datasets", as_["li"], limit=1)
    assert [d["name"] for page in datasets for d in page] == [
        "enterprise_utilities",
        "social_insurance",
    ]


def test_a_page_does_not_shift_when_records_are_added(api: TestClient, as_, world) -> None:
    first = api.get("/api/v1/audit/entries", params={"limit": 3}, headers=as_["chen"]).json()
    api.get("/api/v1/jobs", headers=as_["li"])  # appends token.used entries
    after = {"limit": 3, "cursor": first["next_cursor"]}
    second = api.get("/api/v1/audit/entries", params=after, headers=as_["chen"]).json()
    assert [e["seq"] for e in second["items"]] == [4, 5, 6]


@pytest.mark.parametrize(
    "cursor",
    ["not-base64!", "eyJrIjoxfQ", "eyJrIjoiZW50ZXJwcmlzZV91dGlsaXRpZXMiLCJkIjowfQ"],
    ids=["garbage", "no direction", "a name where a sequence belongs"],
)
def test_a_foreign_cursor_is_a_422_problem(api: TestClient, as_, cursor: str) -> None:
    for path, who in (("/api/v1/audit/entries", "chen"), ("/api/v1/jobs", "li")):
        response = api.get(path, params={"cursor": cursor}, headers=as_[who])
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"


def test_a_denied_query_is_accepted_as_a_denied_job_at_its_location(
    api: TestClient, as_, world: World
) -> None:
    body = {"license_id": world.license_id, "sql": DENIED_SQL}
    response = api.post("/api/v1/jobs", json=body, headers=as_["li"])
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "denied" and job["reasons"]
    assert any(r["column"] == "enterprise_id" for r in job["reasons"])
    location = response.headers["location"]
    assert location == f"/api/v1/jobs/{job['id']}"
    followed = api.get(location, headers=as_["li"]).json()
    assert followed["status"] == "denied" and followed["id"] == job["id"]
    listed = api.get("/api/v1/jobs", headers=as_["li"]).json()["items"]
    assert [j["id"] for j in listed] == [job["id"]]
