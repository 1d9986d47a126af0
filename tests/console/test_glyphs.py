"""Chinese pages render in a font that has the glyphs: no tofu boxes.

Chromium reports, per element, which platform fonts drew its text (the DevTools
`CSS.getPlatformFontsForNode`) and how many glyphs each drew. For every element
with Chinese in its own text, fonts that fontconfig says cover Chinese must have
drawn at least as many glyphs as it has Chinese characters; without fonts-noto-cjk
those characters fall to a Latin font as empty boxes and this test fails.
Screenshots of each page are kept under test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from audit_log import Actor
from core.failures import FailureKind, JobFailure
from jobs.lifecycle import transition
from jobs.queries import get_job
from jobs.records import JobStatus
from jobs.submit import submit_sql
from products.listing import list_product
from products.release import release_of
from tests.conftest import World
from tests.console.conftest import ARTIFACTS, Server, raw_keys, untranslated
from tests.products.conftest import L1_QUERY, decide, ran, with_files

HAN = re.compile(r"[\u4e00-\u9fff]")
PAGES = {
    None: ["/login", "/market", "/market/disclosure"],
    "li": ["/console/jobs", "/console/jobs/new", "/console/products", "/console/catalog"],
    "wang": ["/console/review", "/console/review/history"],
    "chen": ["/console/audit", "/console/alerts", "/console/filings"],
    "gao": ["/console/licenses"],
}

L3_PROJECTED = "SELECT water_fee FROM enterprise_utilities"


@pytest.fixture
def pages_with_domain_words(world: World, tmp_path: Path) -> dict[str | None, list[str]]:
    """Pages that show what the domain says: a denied job's reasons, a failed job's
    failure, a review page's findings and checks, and a product's provenance checks."""
    settings = world.domain.settings.job_settings()
    with world.domain.transaction() as session:
        denied = submit_sql(session, world.license_id, world.operator, L3_PROJECTED, settings).id
        failed = get_job(
            session, submit_sql(session, world.license_id, world.operator, L1_QUERY, settings).id
        )
        failed.failure = JobFailure(FailureKind.LIMIT, "memory_mb")
        transition(session, failed, JobStatus.FAILED, Actor.system(), {"failure": failed.failure})
    held = with_files(world, L1_QUERY, {"memo.txt": b"free text\n"}, tmp_path / "held")
    released = ran(world, L1_QUERY)
    decide(world, released, "wang")
    with world.domain.transaction() as session:
        release = release_of(session, released)
        assert release is not None
        product = list_product(
            session, release.id, world.operator, "镇海区企业分布", home=world.domain.home
        ).id
    return {
        None: [f"/market/{product}"],
        "li": [f"/console/jobs/{denied}", f"/console/jobs/{failed.id}"],
        "wang": [f"/console/review/{held}"],
    }


def _families_covering_chinese() -> set[str]:
    """Font families fontconfig says hold 中 and 数 (U+4E2D, U+6570)."""
    listed = subprocess.run(
        ["fc-list", ":charset=4e2d 6570", "family"], capture_output=True, text=True, check=True
    ).stdout
    return {name.strip() for line in listed.splitlines() for name in line.split(",")}


def _uncovered_chinese(page, covering: set[str]) -> tuple[int, list[str]]:  # type: ignore[no-untyped-def]
    """Chinese characters seen, and the elements whose Chinese a covering font did not draw."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]
    seen, uncovered = 0, []

    def walk(node: dict) -> None:  # type: ignore[type-arg]
        children = node.get("children", [])
        # a closed <details> draws its <summary> only, not its own text
        closed = node.get("nodeName") == "DETAILS" and "open" not in node.get("attributes", [])
        own = [c for c in children if c.get("nodeType") == 3 and not closed]
        own_text = "".join(c.get("nodeValue", "") for c in own)
        han = len(HAN.findall(own_text))
        if node.get("nodeType") == 1 and han:
            fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})["fonts"]
            drawn = sum(f["glyphCount"] for f in fonts if f["familyName"] in covering)
            nonlocal seen
            if not fonts:  # not drawn at all (<title>, hidden): nothing to see
                return
            seen += han
            if drawn < han:
                uncovered.append(f"{own_text.strip()[:30]!r} drawn in {fonts}")
        for child in children:
            if not (closed and child.get("nodeName") != "SUMMARY"):
                walk(child)

    walk(root)
    return seen, uncovered


@pytest.mark.sandbox
def test_chinese_pages_have_every_glyph(
    server: Server, tokens, browser_factory, pages_with_domain_words
) -> None:
    covering = _families_covering_chinese()
    assert covering, "no font on this machine covers Chinese; make test installs fonts-noto-cjk"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    checked = 0
    pages = {u: PAGES.get(u, []) + pages_with_domain_words.get(u, []) for u in PAGES}
    for user, paths in pages.items():
        page = browser_factory(user or "public")
        if user:
            page.goto(f"{server.url}/login")
            page.fill("#token", tokens[user])
            page.click("#login")
            page.wait_for_load_state()
        for path in paths:
            response = page.goto(f"{server.url}{path}")
            assert response is not None and response.ok, path
            english = untranslated(page)
            assert not english, f"{path}: untranslated on the zh-CN page: {sorted(english)}"
            assert not raw_keys(page), f"{path}: catalog keys shown raw: {raw_keys(page)}"
            seen, uncovered = _uncovered_chinese(page, covering)
            assert seen, f"{path}: no Chinese text found on the zh-CN page"
            assert not uncovered, f"{path}: Chinese drawn without its glyphs: {uncovered[:3]}"
            name = path.strip("/").replace("/", "-") or "home"
            page.screenshot(path=str(ARTIFACTS / f"zh-CN-{name}.png"), full_page=True)
            checked += 1
    assert checked == sum(len(p) for p in pages.values())


@pytest.mark.sandbox
def test_english_pages_are_kept_as_screenshots(server: Server, tokens, browser_factory) -> None:
    """The same pages in English, for people to compare; each must load and say English."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for user, paths in PAGES.items():
        page = browser_factory(f"en-{user or 'public'}")
        page.goto(f"{server.url}/lang/en?next=/login")
        if user:
            page.goto(f"{server.url}/login")
            page.fill("#token", tokens[user])
            page.click("#login")
            page.wait_for_load_state()
        for path in paths:
            response = page.goto(f"{server.url}{path}")
            assert response is not None and response.ok, path
            assert page.locator("html").get_attribute("lang") == "en", path
            name = path.strip("/").replace("/", "-") or "home"
            page.screenshot(path=str(ARTIFACTS / f"en-{name}.png"), full_page=True)
