"""The API's response models document its answers without changing them: each body is
exactly the domain's `to_dict()`, key for key and number for number (10 stays 10), and
an operator's view of a job leaves out the figures a reviewer sees."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from catalog import list_datasets
from jobs.queries import get_job
from jobs.runner import run
from jobs.submit import decide, submit_sql
from operators.accounts import create_token, get_user
from operators.licenses import get_license
from products.review_view import review_view
from tests.conftest import AUTHORITY, World

# small groups, so the gate has findings with figures to hide from the operator
pytestmark = pytest.mark.sandbox  # the module's fixtures run real jobs

QUERY = (
    "SELECT district, industry, AVG(capital) AS c, COUNT(*) AS n FROM enterprise_utilities "
    "GROUP BY district, industry"
)
MEDIA = {"application/json"}


def same(body: Any, expected: Any) -> bool:
    """Equal as JSON text: 10 and 10.0 differ, a null is not an absent key."""
    text = json.dumps(expected, ensure_ascii=False, sort_keys=True, default=str)
    return json.dumps(body, ensure_ascii=False, sort_keys=True) == text


@pytest.fixture
def ran(world: World) -> tuple[World, int, TestClient, dict[str, dict[str, str]]]:
    from service.api import create_app

    settings = world.domain.settings.job_settings()
    with world.domain.transaction() as session:
        job = submit_sql(session, world.license_id, world.operator, QUERY, settings)
        tokens = {n: create_token(session, get_user(session, n), AUTHORITY) for n in ("li", "wang")}
    run(world.domain.sessions, world.domain.home, job.id, settings)
    headers = {n: {"Authorization": f"Bearer {t}"} for n, t in tokens.items()}
    return world, job.id, TestClient(create_app(world.domain.settings)), headers


def test_job_views_are_the_domain_records_unchanged(ran) -> None:  # type: ignore[no-untyped-def]
    world, job_id, api, headers = ran
    with world.domain.transaction() as session:
        job = get_job(session, job_id)
        staff, operator = job.to_dict([]), job.to_dict([], for_operator=True)
    extra = {"progress": 75, "release_id": None}
    assert staff["status"] == "awaiting_review" and staff["gate"]["findings"]
    as_operator = api.get(f"/api/v1/jobs/{job_id}", headers=headers["li"]).json()
    as_reviewer = api.get(f"/api/v1/jobs/{job_id}", headers=headers["wang"]).json()
    assert same(as_operator, {**operator, **extra})
    assert same(as_reviewer, {**staff, **extra})
    assert "figures" in as_reviewer["gate"]["findings"][0]
    assert "figures" not in as_operator["gate"]["findings"][0]
    listed = api.get("/api/v1/jobs", headers=headers["li"]).json()
    assert same(listed, {"items": [operator], "next_cursor": None})


def test_review_license_catalog_and_policy_bodies_are_unchanged(ran) -> None:  # type: ignore[no-untyped-def]
    world, job_id, api, headers = ran
    with world.domain.transaction() as session:
        view = review_view(session, world.domain.home, job_id)
        license = get_license(session, world.license_id).to_dict("甬城数据运营有限公司")
        datasets = [d.to_dict() for d in list_datasets(session)]
        decision = decide(session, world.license_id, QUERY, world.domain.settings.epsilon_per_query)
    reviewer, operator = headers["wang"], headers["li"]
    assert same(api.get(f"/api/v1/review/jobs/{job_id}", headers=reviewer).json(), view)
    shown = api.get(f"/api/v1/licenses/{world.license_id}", headers=operator).json()
    assert same(shown, license)
    listed = api.get("/api/v1/datasets", headers=reviewer).json()
    assert same(listed, {"items": datasets, "next_cursor": None})
    checked = api.post(
        "/api/v1/policy/check",
        json={"license_id": world.license_id, "sql": QUERY},
        headers=operator,
    )
    assert same(checked.json(), decision.to_dict())


def test_every_json_route_documents_its_answer(ran) -> None:  # type: ignore[no-untyped-def]
    api = ran[2]
    paths = api.get("/openapi.json").json()["paths"]
    undocumented = []
    for path, operations in paths.items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                content = response.get("content", {})
                if status.startswith("2") and set(content) <= MEDIA:
                    schema = content.get("application/json", {}).get("schema", {})
                    if not schema.get("$ref") and not schema.get("items", {}).get("$ref"):
                        undocumented.append(f"{method.upper()} {path} {status}")
    assert [u for u in undocumented if "/api/v1/" in u] == []


def test_policy_check_states_each_noisy_columns_cost_and_interval(world: World) -> None:
    from service.api import create_app

    sql = (
        "SELECT district, AVG(water_fee) AS a, SUM(gas_fee) AS g, COUNT(DISTINCT enterprise_id) "
        "AS n FROM enterprise_utilities GROUP BY district"
    )
    with world.domain.transaction() as session:
        token = create_token(session, get_user(session, "li"), AUTHORITY)
        decision = decide(session, world.license_id, sql, world.domain.settings.epsilon_per_query)
    api = TestClient(create_app(world.domain.settings))
    body = api.post(
        "/api/v1/policy/check",
        json={"license_id": world.license_id, "sql": sql},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert same(body, decision.to_dict())
    noise = {n["column"]: n for n in body["noise"]}
    assert sum(n["epsilon"] for n in noise.values()) == pytest.approx(body["epsilon"])
    assert noise["g"]["granularity"] == 10_000 and noise["n"]["granularity"] == 1
    assert all(n["ci95"] > 0 for n in noise.values())
    assert noise["a"]["ci95_divisor"] == "rows" and noise["a"]["count_ci95"] > 0
