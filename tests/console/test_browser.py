"""Each role's main task in a real browser (headless Chromium via Playwright) against a
uvicorn server on 127.0.0.1: submit and follow a job, approve it, see it in the audit
timeline, list it as a product and find it in the market."""

from __future__ import annotations

import re

import pytest

from tests.console.conftest import Server

QUERY = "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district"
WAIT = 120_000  # ms the browser may wait for the sandbox; a bound, not an assertion on speed


def _login(page, server: Server, token: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server.url}/login")
    page.fill("#token", token)
    page.click("#login")


@pytest.mark.sandbox
def test_each_role_does_its_main_task(server: Server, tokens, browser_factory) -> None:
    from playwright.sync_api import expect

    operator = browser_factory("operator")
    _login(operator, server, tokens["li"])
    expect(operator).to_have_url(re.compile(r"/console/jobs$"))
    operator.click("#new-job")
    operator.fill("#sql", QUERY)
    operator.click("#check")
    expect(operator.locator("#decision-badge")).to_be_visible()
    expect(operator.locator("#rewritten")).to_contain_text("GROUP BY")
    operator.click("#submit")
    expect(operator).to_have_url(re.compile(r"/console/jobs/\d+$"))
    job_id = int(operator.url.rsplit("/", 1)[1])
    expect(operator.locator("#status")).to_have_text("待审核", timeout=WAIT)

    reviewer = browser_factory("reviewer")
    _login(reviewer, server, tokens["wang"])
    reviewer.click(f"#review-{job_id}")
    expect(reviewer.locator("#checks")).to_contain_text("threshold")
    expect(reviewer.locator("#output")).to_contain_text("district")
    reviewer.click("#approve")
    expect(reviewer.locator(".notice")).to_contain_text(f"#{job_id}: 已出域")

    regulator = browser_factory("regulator")
    _login(regulator, server, tokens["chen"])
    expect(regulator.locator("#verify-badge")).to_have_class(re.compile(r"\bok\b"))
    regulator.fill("input[name=subject]", f"job:{job_id}")
    regulator.click("#filter")
    expect(regulator.locator("#timeline")).to_contain_text("job.released")
    expect(regulator.locator("#timeline")).to_contain_text("review.approve")

    operator.goto(f"{server.url}/console/jobs/{job_id}")
    expect(operator.locator("#download")).to_be_visible()
    operator.goto(f"{server.url}/console/products")
    operator.fill("#product-name", "镇海区企业分布指数")
    operator.fill("input[name=usage_scope] >> nth=-1", "仅限内部分析")
    operator.fill("#list-product input[name=cost_compute]", "800")
    operator.click("#list-submit")
    expect(operator.locator(".notice")).to_contain_text("在售")

    buyer = browser_factory("public")
    buyer.goto(f"{server.url}/market")
    buyer.click("text=镇海区企业分布指数")
    expect(buyer.locator("#provenance-badge")).to_have_text("✔ 已校验")
    expect(buyer.locator("#tiers")).to_contain_text("免费")
    expect(buyer.locator("#tiers")).to_contain_text("¥840.00")
    buyer.click("#lang-en")
    expect(buyer.locator("#provenance-badge")).to_have_text("✔ verified")

    regulator.goto(f"{server.url}/console/filings")
    expect(regulator.locator("#filings")).to_contain_text("镇海区企业分布指数")


def test_authority_decides_an_application(server: Server, tokens, browser_factory) -> None:
    from playwright.sync_api import expect

    operator = browser_factory("operator")
    _login(operator, server, tokens["li"])
    operator.goto(f"{server.url}/console/licenses")
    operator.check("#apply input[name='dataset:enterprise_utilities']")
    operator.fill("#apply input[name=scenario]", "园区招商评估")
    operator.fill("#apply input[name=purpose]", "分区企业统计")
    operator.fill("#apply input[name=valid_until]", "2099-12-31")
    operator.click("#apply-submit")
    expect(operator.locator(".notice")).to_contain_text("待审批")
    license_id = int(re.search(r"#(\d+)", operator.locator(".notice").inner_text())[1])

    authority = browser_factory("authority")
    _login(authority, server, tokens["gao"])
    row = authority.locator(f"#license-{license_id}")
    row.locator("input[name=epsilon]").fill("2")
    authority.click(f"#approve-{license_id}")
    expect(authority.locator(f"#license-{license_id}")).to_contain_text("有效")
    expect(authority.locator(f"#license-{license_id}")).to_contain_text("0 / 2")

    operator.goto(f"{server.url}/console/licenses")
    expect(operator.locator(f"#license-{license_id}")).to_contain_text("有效")
