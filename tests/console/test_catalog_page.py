"""The data catalog in the console: datasets and columns with level, role, type,
desensitization and bounds; what the operator's licence opens; columns one click
from the SQL editor."""

from __future__ import annotations

import re

import pytest

from tests.conftest import World
from tests.console.conftest import Server, login


def test_the_catalog_lists_every_stored_column_with_its_rules(client, tokens, world: World) -> None:
    login(client, tokens["li"])
    page = client.get("/console/catalog").text
    assert 'id="dataset-enterprise_utilities"' in page and "数据资源目录" in page
    assert "<code>water_fee</code>" in page and "年水费（元）" in page  # name and title
    assert "0 – 1,000,000" in page  # water_fee's bounds, grouped
    assert "<code>legal_person</code>" not in page  # dropped at ingest: not in the store
    api = client.get("/api/v1/datasets", headers={"Authorization": f"Bearer {tokens['li']}"})
    water = next(
        c for d in api.json() if d["name"] == "enterprise_utilities" for c in d["columns"]
        if c["name"] == "water_fee"
    )  # fmt: skip
    assert (water["level"], water["role"], water["bounds"]) == ("L3", "measure", [0, 1000000])
    assert water["title"] == "年水费（元）"


def test_the_operator_sees_what_the_licence_opens(client, tokens, world: World) -> None:
    login(client, tokens["li"])
    page = client.get("/console/catalog").text
    section = page.split('id="dataset-enterprise_utilities"', 1)[1].split("</section>", 1)[0]
    assert "已授权至" in section
    editor = client.get("/console/jobs/new").text
    assert 'data-insert="enterprise_utilities"' in editor and 'data-insert="district"' in editor
    login(client, tokens["wang"])  # staff see the catalog without licence marks
    assert "已授权至" not in client.get("/console/catalog").text


@pytest.mark.sandbox
def test_clicking_a_column_inserts_it_into_the_query(
    server: Server, tokens, browser_factory
) -> None:
    from playwright.sync_api import expect

    page = browser_factory("operator")
    page.goto(f"{server.url}/login")
    page.fill("#token", tokens["li"])
    page.click("#login")
    page.goto(f"{server.url}/console/jobs/new")
    page.fill("#sql", "SELECT  FROM enterprise_utilities")
    page.locator("#sql").evaluate("e => { e.selectionStart = e.selectionEnd = 7; }")
    page.click('#columns button[data-insert="district"]')
    expect(page.locator("#sql")).to_have_value(re.compile(r"^SELECT district FROM"))
