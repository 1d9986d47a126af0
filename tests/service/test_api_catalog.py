"""The catalog over the API (数据资源目录): staff see every dataset with each column's
level, role, type, desensitization and bounds; an operator sees only what its usable
licences cover, with what each licence allows."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from catalog import get_dataset
from operators.accounts import create_token, get_user
from operators.licenses import grant_license
from tests.conftest import AUTHORITY, World


@pytest.fixture
def as_(world: World) -> dict[str, dict[str, str]]:
    with world.domain.transaction() as session:
        return {
            n: {"Authorization": f"Bearer {create_token(session, get_user(session, n), AUTHORITY)}"}
            for n in ("li", "mallory", "wang", "chen")
        }


def test_staff_see_every_dataset_and_each_columns_rules(api: TestClient, as_) -> None:
    for who in ("wang", "chen"):
        page = api.get("/api/v1/datasets", headers=as_[who]).json()
        names = [d["name"] for d in page["items"]]
        assert names == ["enterprise_utilities", "social_insurance"]
    entry = api.get("/api/v1/datasets/enterprise_utilities", headers=as_["wang"]).json()
    assert {"title", "owner", "version", "row_count", "ingested_at"} <= set(entry)
    assert entry["row_count"] > 0 and entry["version"] >= 1 and "licensed" not in entry
    assert entry["one_row_per_unit"] is True  # counted at ingest: one row per enterprise
    columns = {c["name"]: c for c in entry["columns"]}
    fee = columns["water_fee"]
    assert (fee["level"], fee["role"], fee["type"]) == ("L3", "measure", "double")
    assert fee["bounds"] == [0, 1000000]
    assert columns["enterprise_id"]["desensitize"] == "pseudonymize"


def test_an_operator_sees_its_licences_view(api: TestClient, as_, world: World) -> None:
    entries = api.get("/api/v1/datasets", headers=as_["li"]).json()["items"]
    assert [d["name"] for d in entries] == ["enterprise_utilities", "social_insurance"]
    view = entries[0]["licensed"]
    assert [v["license"] for v in view] == [world.license_id] and view[0]["max_level"] == "L3"
    with world.domain.transaction() as session:
        stored = [
            c.name
            for c in get_dataset(session, "enterprise_utilities").schema().columns
            if c.stored
        ]
    assert view[0]["columns"] == stored


def test_a_narrow_licence_shows_only_its_levels_and_rows(api: TestClient, as_, world: World):
    mallory = as_["mallory"]
    assert api.get("/api/v1/datasets", headers=mallory).json()["items"] == []
    refused = api.get("/api/v1/datasets/enterprise_utilities", headers=mallory)
    assert refused.status_code == 404
    assert refused.headers["content-type"] == "application/problem+json"
    with world.domain.transaction() as session:
        schema = get_dataset(session, "enterprise_utilities").schema()
        granted = grant_license(
            session,
            operator="other-company",
            schemas={"enterprise_utilities": schema},
            actor=AUTHORITY,
            max_level="L1",
            purpose="p",
            valid_until=date.today() + timedelta(days=5),
            epsilon=1.0,
            row_filters={"enterprise_utilities": "district = '镇海区'"},
        )
        public = [c.name for c in schema.columns if c.stored and c.level == "L1"]
    entry = api.get("/api/v1/datasets/enterprise_utilities", headers=mallory).json()
    assert entry["licensed"] == [
        {
            "license": granted.id,
            "max_level": "L1",
            "valid_until": (date.today() + timedelta(days=5)).isoformat(),
            "row_filter": "district = '镇海区'",
            "columns": public,
        }
    ]
    assert "water_fee" not in entry["licensed"][0]["columns"]
    assert api.get("/api/v1/datasets/social_insurance", headers=mallory).status_code == 404


def test_an_unknown_dataset_is_a_404_problem(api: TestClient, as_) -> None:
    response = api.get("/api/v1/datasets/no_such_thing", headers=as_["wang"])
    assert response.status_code == 404 and response.json()["error"] == "not_found"
