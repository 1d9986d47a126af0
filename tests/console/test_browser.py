"""Each role's main task in a real browser (headless Chromium via Playwright) against a
uvicorn server on 127.0.0.1, in both languages: the operator submits and follows a job,
the reviewer decides, the regulator goes from an alert to the job, its trail and its
release, the operator lists the product, the public views it, and the authority licenses.
On every main page no catalog key shows raw, and in Chinese no English sentence is left;
a screenshot of each is kept under test-artifacts/screenshots."""

from __future__ import annotations

import re

import pytest

from jobs.submit import submit_sql
from tests.console.conftest import ARTIFACTS, Server, raw_keys, untranslated

QUERY = (
    "SELECT district, COUNT(*) AS n FROM enterprise_utilities "
    "WHERE district <> '{}' GROUP BY district"
)
WAIT = 120_000  # ms the browser may wait for the sandbox; a bound, not an assertion on speed
LANGUAGES = ("zh-CN", "en")
# What the pages say for a state, per language (the catalogs' own words)
SAYS = {
    "zh-CN": {
        "awaiting_review": "待审核",
        "released": "已出域",
        "listed": "在售",
        "verified": "✔ 已校验",
        "free": "免费",
        "pending": "待审批",
        "active": "有效",
    },
    "en": {
        "awaiting_review": "awaiting review",
        "released": "released",
        "listed": "listed",
        "verified": "✔ verified",
        "free": "free",
        "pending": "pending",
        "active": "active",
    },
}


def _open(browser_factory, server: Server, role: str, lang: str, token: str | None = None):  # type: ignore[no-untyped-def]
    """A fresh profile for `role` reading `lang`, logged in when given a token."""
    page = browser_factory(f"{lang}-{role}")
    if lang != "zh-CN":
        page.goto(f"{server.url}/lang/{lang}?next=/login")
    if token is not None:
        page.goto(f"{server.url}/login")
        page.fill("#token", token)
        page.click("#login")
        page.wait_for_load_state()
    return page


def _main_page(page, lang: str, name: str) -> None:  # type: ignore[no-untyped-def]
    """The page is in its language: no raw catalog key, in Chinese no English sentence."""
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == lang, name
    assert not raw_keys(page), f"{name}: catalog keys shown raw: {raw_keys(page)}"
    if lang == "zh-CN":
        english = untranslated(page)
        assert not english, f"{name}: untranslated on the zh-CN page: {sorted(english)}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{lang}-task-{name}.png"), full_page=True)


@pytest.mark.sandbox
@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_role_does_its_main_task(server: Server, tokens, browser_factory, lang: str) -> None:
    from playwright.sync_api import expect

    says = SAYS[lang]
    world = server.world
    # an earlier query that differs from the operator's in one literal: the regulator's alert
    with world.domain.transaction() as session:
        settings = world.domain.settings.job_settings()
        submit_sql(session, world.license_id, world.operator, QUERY.format("甲区"), settings)

    operator = _open(browser_factory, server, "operator", lang, tokens["li"])
    expect(operator).to_have_url(re.compile(r"/console/jobs$"))
    operator.click("#new-job")
    operator.fill("#sql", QUERY.format("乙区"))
    operator.click("#check")
    expect(operator.locator("#decision-badge")).to_be_visible()
    expect(operator.locator("#rewritten")).to_contain_text("GROUP BY")
    _main_page(operator, lang, "operator-check")
    operator.click("#submit")
    expect(operator).to_have_url(re.compile(r"/console/jobs/\d+$"))
    job_id = int(operator.url.rsplit("/", 1)[1])
    expect(operator.locator("#status")).to_have_text(says["awaiting_review"], timeout=WAIT)
    _main_page(operator, lang, "operator-job")

    reviewer = _open(browser_factory, server, "reviewer", lang, tokens["wang"])
    _main_page(reviewer, lang, "reviewer-queue")
    reviewer.click(f"#review-{job_id}")
    expect(reviewer.locator("#checks")).to_contain_text("10")  # the threshold, in figures
    expect(reviewer.locator("#output")).to_contain_text("district")
    _main_page(reviewer, lang, "reviewer-workbench")
    reviewer.click("#approve")
    expect(reviewer.locator(".notice")).to_contain_text(f"#{job_id}: {says['released']}")

    regulator = _open(browser_factory, server, "regulator", lang, tokens["chen"])
    expect(regulator.locator("#verify-badge")).to_have_class(re.compile(r"\bok\b"))
    regulator.goto(f"{server.url}/console/alerts")
    alert = regulator.locator("#alerts tr", has_text="near_identical_query")
    expect(alert).to_have_count(1)
    _main_page(regulator, lang, "regulator-alerts")
    alert.locator(f"a.subject[href='/console/jobs/{job_id}']").click()  # 1: the job
    expect(regulator.locator("#status")).to_have_text(says["released"])
    _main_page(regulator, lang, "regulator-job")
    regulator.click("#audit-trail")  # 2: its lineage on the record
    timeline = regulator.locator("#timeline")
    expect(timeline).to_contain_text("job.released")
    expect(timeline).to_contain_text("review.approve")
    _main_page(regulator, lang, "regulator-trail")
    regulator.go_back()
    regulator.click("#release-trail")  # 3: its release, signed and on the record
    expect(regulator.locator("#timeline")).to_contain_text("release.created")
    _main_page(regulator, lang, "regulator-release")

    operator.goto(f"{server.url}/console/products")
    operator.fill("#product-name", "镇海区企业分布指数")
    operator.fill("input[name=usage_scope] >> nth=-1", "仅限内部分析")
    operator.fill("#list-product input[name=cost_compute]", "800")
    operator.click("#list-submit")
    expect(operator.locator(".notice")).to_contain_text(says["listed"])
    _main_page(operator, lang, "operator-products")

    buyer = _open(browser_factory, server, "public", lang)
    buyer.goto(f"{server.url}/market")
    _main_page(buyer, lang, "market")
    buyer.click("text=镇海区企业分布指数")
    expect(buyer.locator("#provenance-badge")).to_have_text(says["verified"])
    expect(buyer.locator("#tiers")).to_contain_text(says["free"])
    expect(buyer.locator("#tiers")).to_contain_text("¥840.00")
    _main_page(buyer, lang, "product")

    regulator.goto(f"{server.url}/console/filings")
    expect(regulator.locator("#filings")).to_contain_text("镇海区企业分布指数")
    _main_page(regulator, lang, "regulator-filings")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_authority_decides_an_application(
    server: Server, tokens, browser_factory, lang: str
) -> None:
    from playwright.sync_api import expect

    says = SAYS[lang]
    operator = _open(browser_factory, server, "operator", lang, tokens["li"])
    operator.goto(f"{server.url}/console/licenses")
    operator.check("#apply input[name='dataset:enterprise_utilities']")
    operator.fill("#apply input[name=scenario]", "园区招商评估")
    operator.fill("#apply input[name=purpose]", "分区企业统计")
    operator.fill("#apply input[name=valid_until]", "2099-12-31")
    operator.click("#apply-submit")
    expect(operator.locator(".notice")).to_contain_text(says["pending"])
    license_id = int(re.search(r"#(\d+)", operator.locator(".notice").inner_text())[1])

    authority = _open(browser_factory, server, "authority", lang, tokens["gao"])
    _main_page(authority, lang, "authority-licenses")
    row = authority.locator(f"#license-{license_id}")
    row.locator("input[name=epsilon]").fill("2")
    authority.click(f"#approve-{license_id}")
    expect(authority.locator(f"#license-{license_id}")).to_contain_text(says["active"])
    expect(authority.locator(f"#license-{license_id}")).to_contain_text("0 / 2")
    _main_page(authority, lang, "authority-licensed")

    operator.goto(f"{server.url}/console/licenses")
    expect(operator.locator(f"#license-{license_id}")).to_contain_text(says["active"])
