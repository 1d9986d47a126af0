"""A dataset's synthetic twin over the API and the console: licensed callers only, audited.

A company without a usable licence to the dataset gets the answer a missing dataset
gets, so the route cannot be used to learn whose licence covers what.
"""

from __future__ import annotations

import io
import json
import zipfile

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from audit_log import AuditEntry
from catalog import get_dataset, twin
from operators.accounts import add_user, create_token, get_user
from operators.lifecycle import suspend_license
from tests.conftest import AUTHORITY, World
from tests.console.conftest import login

TWIN = "/api/v1/datasets/{}/twin"


@pytest.fixture
def api(world: World) -> TestClient:
    from service.api import create_app

    return TestClient(create_app(world.domain.settings), follow_redirects=False)


@pytest.fixture
def tokens(world: World) -> dict[str, str]:
    with world.domain.transaction() as session:
        add_user(session, "gao", "authority", None, AUTHORITY)
        names = ("li", "mallory", "wang", "chen", "gao")
        return {n: create_token(session, get_user(session, n), AUTHORITY) for n in names}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def entries(world: World, action: str) -> list[AuditEntry]:
    with world.domain.transaction() as session:
        found = session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()
        session.expunge_all()
        return list(found)


def test_a_licensed_operator_downloads_the_twin(api: TestClient, tokens, world: World) -> None:
    response = api.get(
        TWIN.format("social_insurance") + "?rows=120&seed=4", headers=auth(tokens["li"])
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert 'filename="social_insurance-twin.zip"' in response.headers["content-disposition"]
    with world.domain.transaction() as session:
        expected = twin(get_dataset(session, "social_insurance").schema(), 120, 4).zip()
    assert response.content == expected
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    frame = pd.read_parquet(io.BytesIO(archive.read("social_insurance.parquet")))
    assert len(frame) == 120 and list(frame.columns) == [
        "enterprise_id",
        "insured_staff",
        "contribution",
    ]
    [entry] = entries(world, "catalog.twin_downloaded")
    assert entry.actor == "li" and entry.subject == "dataset:social_insurance"
    assert entry.details == {
        "dataset": "social_insurance",
        "version": 1,
        "rows": 120,
        "seed": 4,
        "operator_id": world.operator.operator_id,
    }


def test_another_company_gets_the_answer_a_missing_dataset_gets(
    api: TestClient, tokens, world: World
) -> None:
    unlicensed = api.get(TWIN.format("enterprise_utilities"), headers=auth(tokens["mallory"]))
    missing = api.get(TWIN.format("no_such_dataset"), headers=auth(tokens["mallory"]))
    assert unlicensed.status_code == missing.status_code == 404
    # the same body but for the name the caller typed (in the text and in its figures)
    named = json.dumps(missing.json(), ensure_ascii=False)
    assert unlicensed.json() == json.loads(named.replace("no_such_dataset", "enterprise_utilities"))
    assert not entries(world, "catalog.twin_downloaded")
    refused = entries(world, "request.refused")
    assert refused and refused[-1].actor == "mallory"


def test_a_suspended_licence_no_longer_gives_twins(api: TestClient, tokens, world: World) -> None:
    assert api.get(TWIN.format("social_insurance"), headers=auth(tokens["li"])).status_code == 200
    with world.domain.transaction() as session:
        suspend_license(session, world.license_id, AUTHORITY, "audit pending")
    assert api.get(TWIN.format("social_insurance"), headers=auth(tokens["li"])).status_code == 404


@pytest.mark.parametrize(("user", "status"), [("wang", 403), ("chen", 403), ("gao", 200)])
def test_roles(api: TestClient, tokens, user: str, status: int) -> None:
    response = api.get(TWIN.format("social_insurance"), headers=auth(tokens[user]))
    assert response.status_code == status


@pytest.mark.parametrize("query", ["?rows=0", "?rows=1000001", "?seed=-1", "?rows=ten"])
def test_bad_sizes_are_422(api: TestClient, tokens, query: str) -> None:
    response = api.get(TWIN.format("social_insurance") + query, headers=auth(tokens["li"]))
    assert response.status_code == 422


def test_the_console_links_each_licensed_dataset_to_its_twin(
    api: TestClient, tokens, world: World
) -> None:
    login(api, tokens["li"])
    page = api.get("/console/licenses").text
    link = "/console/datasets/enterprise_utilities/twin"
    assert link in page and "下载合成孪生数据" in page
    api.cookies.set("sluice_lang", "en")
    english = api.get("/console/licenses").text
    assert "Synthetic twin · enterprise_utilities" in english and "下载合成孪生数据" not in english
    api.cookies.delete("sluice_lang")
    download = api.get(link)
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
    assert "enterprise_utilities.dictionary.json" in names
    login(api, tokens["mallory"])
    assert link not in api.get("/console/licenses").text
    assert api.get(link).status_code == 404
