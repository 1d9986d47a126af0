"""One-time login codes in a real browser (headless Chromium via Playwright, against
uvicorn on 127.0.0.1): the administrator issues a code on the administration page,
the reviewer logs in with it once, and the same code is refused the second time."""

from __future__ import annotations

import re
from pathlib import Path

from operators.accounts import add_user, create_token
from tests.conftest import AUTHORITY
from tests.console.conftest import Server

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def test_a_code_issued_by_the_admin_logs_the_user_in_once(
    server: Server,
    browser_factory,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    with server.world.domain.transaction() as session:
        root = create_token(session, add_user(session, "root", "admin", None, AUTHORITY), AUTHORITY)
    admin = browser_factory("admin")
    admin.goto(f"{server.url}/login")
    admin.fill("#token", root)
    admin.click("#login")
    admin.click("#code-wang")
    code = admin.locator("#new-code pre").inner_text().strip()
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)

    reviewer = browser_factory("reviewer")
    for attempt in ("first", "again"):
        reviewer.goto(f"{server.url}/login")
        reviewer.fill("#code-name", "wang")
        reviewer.fill("#code", code.lower())  # typed by hand
        if attempt == "again":
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            reviewer.screenshot(path=str(ARTIFACTS / "zh-CN-login-code.png"), full_page=True)
        reviewer.click("#login-code")
        if attempt == "first":
            expect(reviewer).to_have_url(re.compile(r"/console/review$"))
            reviewer.click("text=退出")
    expect(reviewer.locator("#bad-code")).to_contain_text("一次性验证码错误")
