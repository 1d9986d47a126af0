"""Ingest in a real browser (headless Chromium via Playwright, against uvicorn on
127.0.0.1): the authority uploads a file and its schema, watches the progress bar
fill batch by batch until done, and follows the link to the dataset in the catalog."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from tests.console.conftest import Server

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
ROWS = 3000  # tests.conftest.ROWS: the demo file's rows


def test_the_authority_uploads_a_file_and_watches_the_bar_reach_done(
    server: Server,
    tokens: dict[str, str],
    browser_factory,  # type: ignore[no-untyped-def]
    demo_files: list[tuple[Path, Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.sync_api import expect

    ingest_module = importlib.import_module("catalog.ingest")  # the package shadows it
    # ten batches: the run lasts long enough for the page to follow it
    monkeypatch.setattr(ingest_module, "BATCH_ROWS", 300)
    data, schema = demo_files[0]
    renamed = tmp_path / "schema.yaml"
    text = schema.read_text("utf-8").replace("dataset: enterprise_utilities", "dataset: copy")
    renamed.write_text(text.replace("title: 企业水电气缴费", "title: 缴费副本"), "utf-8")

    page = browser_factory("authority")
    page.goto(f"{server.url}/login")
    page.fill("#token", tokens["gao"])
    page.click("#login")
    page.click("#nav-ingest")
    expect(page.locator("h1")).to_have_text("数据归集")
    big = {"name": "big.csv", "mimeType": "text/csv", "buffer": b"x" * 2_000_001}
    page.set_input_files("#data-file", big)  # over the request cap: refused before sending
    page.set_input_files("#schema-file", str(renamed))
    page.click("#ingest-submit")
    expect(page.locator("#too-large")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/console/admin/ingest$"))
    page.set_input_files("#data-file", str(data))
    polled: list[int] = []  # what the page's script read while it followed the run

    def spy(route) -> None:  # type: ignore[no-untyped-def]
        answer = route.fetch()
        polled.append(answer.json()["percent"])
        route.fulfill(response=answer)

    page.route(re.compile(r"/progress$"), spy)
    page.click("#ingest-submit")
    expect(page).to_have_url(re.compile(r"/console/admin/ingest/[0-9a-f]+$"))
    expect(page.locator("#ingest-done")).to_be_visible(timeout=120_000)
    expect(page.locator("#ingest-percent")).to_have_text("100 %")
    bar = page.locator("#ingest-progress")
    assert bar.get_attribute("value") == bar.get_attribute("max") == str(ROWS)
    expect(page.locator("#ingest-count")).to_have_text("3,000 / 3,000")
    assert polled and polled == sorted(polled) and polled[-1] == 100
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "zh-CN-ingest-done.png"), full_page=True)

    page.click("#catalog-link")
    expect(page).to_have_url(re.compile(r"/console/catalog#dataset-"))
    dataset = page.locator("#dataset-copy")
    expect(dataset).to_contain_text("缴费副本")
    expect(dataset).to_contain_text("3,000")

    page.click("#lang-en")
    page.goto(f"{server.url}/console/admin/ingest")
    expect(page.locator("h1")).to_have_text("Ingest a dataset")
    page.screenshot(path=str(ARTIFACTS / "en-ingest-form.png"), full_page=True)
