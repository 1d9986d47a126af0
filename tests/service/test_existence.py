"""No existence oracle (issue 15): on every API route and console page that takes the id
of a licence, job, release or product, another company's id answers exactly like an
id that was never issued — same status, same body once the id itself is set aside."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jobs.runner import run
from jobs.submit import submit_sql
from operators.accounts import create_token, get_user
from products.listing import list_product
from products.pricing import PricingBasis
from products.release import release_of
from products.review import review
from tests.conftest import AUTHORITY, World
from tests.sandbox.test_notebooks import notebook

PLAIN = "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district"
UNKNOWN = 2_000_000_000  # never issued, and within every route's id range
PRICING = {"costs": {"compute": 600, "labour": 400}, "margin": 0.05, "sme_discount": 0.4}
NOTEBOOK = notebook("1 + 1").encode()


@dataclass(frozen=True)
class Case:
    """One request naming an object of kind `kind` by `{id}`."""

    name: str
    kind: str  # license | job | release | product
    method: str
    path: str
    body: dict[str, Any] | None = None  # JSON; `{id}` in a value is replaced too
    form: bool = False  # a console form (with its CSRF token) instead of JSON
    files: bool = False  # multipart, the licence in a form field


LISTING = {"release_id": "{id}", "name": "x", "usage_scope": "internal", "pricing": PRICING}
CASES = [
    Case("licence", "license", "GET", "/api/v1/licenses/{id}"),
    Case("licence budget", "license", "GET", "/api/v1/licenses/{id}/budget"),
    Case("submit sql", "license", "POST", "/api/v1/jobs", {"license_id": "{id}", "sql": PLAIN}),
    Case(
        "policy check",
        "license",
        "POST",
        "/api/v1/policy/check",
        {"license_id": "{id}", "sql": PLAIN},
    ),
    Case("submit notebook", "license", "POST", "/api/v1/jobs/notebook", files=True),
    Case("job", "job", "GET", "/api/v1/jobs/{id}"),
    Case("job events", "job", "GET", "/api/v1/jobs/{id}/events"),
    Case("job package", "job", "GET", "/api/v1/jobs/{id}/package"),
    Case("release", "release", "GET", "/api/v1/releases/{id}"),
    Case("release package", "release", "GET", "/api/v1/releases/{id}/package"),
    Case("list a release", "release", "POST", "/api/v1/products", LISTING),
    Case("reprice", "product", "PUT", "/api/v1/products/{id}/pricing", {"pricing": PRICING}),
    Case("withdraw", "product", "POST", "/api/v1/products/{id}/withdraw", {"reason": "x"}),
    Case(
        "record usage",
        "product",
        "POST",
        "/api/v1/products/{id}/usage",
        {"buyer": "b", "buyer_type": "sme"},
    ),
    Case("read usage", "product", "GET", "/api/v1/products/{id}/usage"),
    Case(
        "record spending",
        "product",
        "POST",
        "/api/v1/products/{id}/spending",
        {"category": "compute", "amount": 1},
    ),
    Case("console job", "job", "GET", "/console/jobs/{id}"),
    Case("console job package", "job", "GET", "/console/jobs/{id}/package"),
    Case(
        "console policy check",
        "license",
        "POST",
        "/console/jobs/check",
        {"license_id": "{id}", "sql": PLAIN},
        form=True,
    ),
    Case(
        "console submit",
        "license",
        "POST",
        "/console/jobs",
        {"license_id": "{id}", "sql": PLAIN},
        form=True,
    ),
    Case(
        "console usage",
        "product",
        "POST",
        "/console/products/{id}/usage",
        {"buyer": "b", "buyer_type": "sme"},
        form=True,
    ),
    Case(
        "console withdraw",
        "product",
        "POST",
        "/console/products/{id}/withdraw",
        {"note": "x"},
        form=True,
    ),  # fmt: skip
]


def li_objects(world: World) -> dict[str, int]:
    """A licence, a released job, its release and a product, all of li's company."""
    settings = replace(world.domain.settings.job_settings(), backend="bubblewrap")
    with world.domain.transaction() as session:
        job_id = submit_sql(session, world.license_id, world.operator, PLAIN, settings).id
    run(world.domain.sessions, world.domain.home, job_id, settings)
    with world.domain.transaction() as session:
        review(session, world.domain.home, job_id, get_user(session, "wang"), "approve", "ok")
        release = release_of(session, job_id)
        assert release is not None
        basis = PricingBasis(costs={"compute": 600.0})
        product = list_product(session, release.id, world.operator, "p", pricing=basis)
        return {"license": world.license_id, "job": job_id, "release": release.id,
                "product": product.id}  # fmt: skip


def _fill(value: Any, object_id: int) -> Any:
    if value == "{id}":
        return object_id
    return value


def ask(client: TestClient, case: Case, object_id: int, csrf: str) -> tuple[int, str]:
    path = case.path.replace("{id}", str(object_id))
    body = {k: _fill(v, object_id) for k, v in (case.body or {}).items()}
    if case.files:
        response = client.post(
            path,
            data={"license_id": str(object_id)},
            files={"notebook": ("n.ipynb", NOTEBOOK, "application/json")},
        )
    elif case.form:
        response = client.request(
            case.method, path, data={**{k: str(v) for k, v in body.items()}, "csrf": csrf}
        )
    else:
        response = client.request(case.method, path, json=body if case.body else None)
    # the id itself is the one thing allowed to differ; so is the page's CSRF token
    words = r"(?:id|job|license|licence|release|product)\s|编号为 "  # in sentences, zh and en
    named = rf"({words}|/|\"[a-z_]*id\": ?){object_id}\b"  # ... and in a problem's figures
    text = re.sub(named, r"\1{id}", response.text).replace(csrf, "{csrf}")
    return response.status_code, text


@pytest.mark.sandbox("bubblewrap")
def test_another_companys_ids_answer_like_unknown_ones(world: World) -> None:
    from service.api import create_app

    owned = li_objects(world)
    with world.domain.transaction() as session:
        token = create_token(session, get_user(session, "mallory"), AUTHORITY)
    client = TestClient(create_app(world.domain.settings), follow_redirects=False)
    client.headers["Authorization"] = f"Bearer {token}"
    login = client.post("/login", data={"token": token})
    page = client.get(login.headers["location"]).text
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert found, page[:300]
    csrf = found.group(1)
    differing = []
    for case in CASES:
        theirs = ask(client, case, owned[case.kind], csrf)
        unknown = ask(client, case, UNKNOWN, csrf)
        if theirs != unknown:
            lines = difflib.unified_diff(unknown[1].splitlines(), theirs[1].splitlines(), n=0)
            shown = " | ".join(list(lines)[2:8])
            differing.append(f"{case.name}: {unknown[0]} vs {theirs[0]}: {shown}")
        elif case.path.startswith("/api/") and theirs[0] != 404:
            differing.append(f"{case.name}: both answer {theirs[0]}, not 404: {theirs[1][:200]}")
    assert differing == []
    # and li still sees every one of them
    li = TestClient(create_app(world.domain.settings))
    with world.domain.transaction() as session:
        li.headers["Authorization"] = "Bearer " + create_token(
            session, get_user(session, "li"), AUTHORITY
        )
    assert li.get(f"/api/v1/licenses/{owned['license']}").status_code == 200
    assert li.get(f"/api/v1/jobs/{owned['job']}").status_code == 200
    assert li.get(f"/api/v1/releases/{owned['release']}").status_code == 200
    assert li.get(f"/api/v1/products/{owned['product']}/usage").status_code == 200
