"""The console without a browser: login by token into an HttpOnly cookie, CSRF on every
form, roles on every page, both languages complete, and each page renders."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from audit_log import AuditAction, append
from core.errors import InvalidInput
from operators import close_token_use
from operators.accounts import get_user
from products.review import review
from service.web.i18n import translator
from service.web.pages.authority import amount, day
from service.web.pages.operator import whole_number
from service.web.wording import error_words
from tests.conftest import AUTHORITY, World
from tests.console.conftest import login

WEB = Path(__file__).parents[2] / "service" / "web"
QUERY = "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district"


def test_every_template_string_has_a_chinese_translation() -> None:
    catalog = json.loads((WEB / "i18n" / "zh-CN.json").read_text("utf-8"))
    used = set()
    for template in (WEB / "templates").glob("*.html"):
        text = template.read_text("utf-8")
        used |= set(re.findall(r't\("([^"]+)"', text)) | set(re.findall(r"t\('([^']+)'", text))
    assert used and not used - set(catalog), sorted(used - set(catalog))


def test_a_mistyped_form_field_is_named_in_either_language() -> None:
    """Each field has its own sentence, so the Chinese names the field too, not in English."""
    zh, en = translator("zh-CN"), translator("en")
    mistyped = {
        lambda: amount("abc", "epsilon"): "ε 预算须为数字，而非 'abc'",
        lambda: amount("nan", "sme_discount", False): "中小微企业折扣须为有限数值",
        lambda: amount("1,000", "compute", False): "成本项 compute 须为数字，而非 '1,000'",
        lambda: day(
            "2026-13-01", "term_start"
        ): "期限起始日期须为日期（`YYYY-MM-DD`），而非 '2026-13-01'",
        lambda: whole_number("0", "quantity"): "数量超出范围",
    }
    english = []
    for call, chinese in mistyped.items():
        with pytest.raises(InvalidInput) as refused:
            call()
        assert error_words(refused.value, zh).message == f"输入有误：{chinese}"
        english.append(error_words(refused.value, en).message)
    assert english == [
        "the ε budget must be a number, not 'abc'",
        "the SME discount must be a finite number",
        "compute must be a number, not '1,000'",
        "the start of the term must be a date (YYYY-MM-DD), not '2026-13-01'",
        "the quantity is out of range",
    ]


def test_login_redirects_by_role_and_bad_tokens_are_refused(client, tokens) -> None:
    homes = {"li": "/console/jobs", "wang": "/console/review", "chen": "/console/audit"}
    for user, home in homes.items():
        response = client.post("/login", data={"token": tokens[user]})
        assert response.headers["location"] == home
    client.cookies.clear()
    assert client.post("/login", data={"token": "slc_forged"}).status_code == 401
    assert client.get("/console/jobs").headers["location"] == "/login?next=/console/jobs"
    evil = client.post("/login", data={"token": tokens["li"], "next": "//evil.example/x"})
    assert evil.headers["location"] == "/console/jobs"


def test_forms_without_the_csrf_token_change_nothing(client, tokens, world: World) -> None:
    login(client, tokens["li"])
    body = {"license_id": str(world.license_id), "sql": QUERY}
    refused = client.post("/console/jobs", data=body)
    assert refused.status_code == 403 and "表单已过期" in refused.text  # zh-CN: stale form
    bearer = {"Authorization": f"Bearer {tokens['li']}"}
    assert client.get("/api/v1/jobs", headers=bearer).json()["items"] == []


def test_roles_are_enforced_on_pages(client, tokens) -> None:
    login(client, tokens["li"])
    assert client.get("/console/audit").status_code == 403
    assert client.get("/console/review").status_code == 403
    login(client, tokens["chen"])
    assert client.get("/console/jobs").status_code == 403
    assert client.get("/console/audit").status_code == 200


def test_language_switch(client) -> None:
    assert "数据产品市场" in client.get("/market").text
    switched = client.get("/lang/en?next=/market")
    assert switched.status_code == 303 and switched.headers["location"] == "/market"
    assert "Data product market" in client.get("/market").text
    assert client.get("/lang/en?next=https://evil.example").headers["location"] == "/market"


@pytest.mark.sandbox
def test_every_role_page_renders(client, tokens, world: World) -> None:
    csrf = login(client, tokens["li"])
    checked = client.post(
        "/console/jobs/check",
        data={"csrf": csrf, "license_id": str(world.license_id), "sql": QUERY},
    )
    assert checked.status_code == 200 and 'id="rewritten"' in checked.text
    submitted = client.post(
        "/console/jobs", data={"csrf": csrf, "license_id": str(world.license_id), "sql": QUERY}
    )
    job_path = submitted.headers["location"]
    job_id = int(job_path.rsplit("/", 1)[1])
    assert "awaiting_review" in client.get(job_path).text or "待审核" in client.get(job_path).text
    with world.domain.transaction() as session:
        review(session, world.domain.home, job_id, get_user(session, "wang"), "approve", "ok")
    for path in ("/console/jobs", "/console/products", "/console/licenses", "/console/jobs/new"):
        assert client.get(path).status_code == 200, path
    assert client.get(f"/console/jobs/{job_id}/package").content[:2] == b"PK"
    login(client, tokens["mallory"])
    assert client.get(job_path).status_code == 404
    login(client, tokens["wang"])
    assert client.get(f"/console/review/{job_id}").status_code == 200
    login(client, tokens["chen"])
    for path in ("/console/audit?action=job.&subject=job:", "/console/alerts", "/console/filings"):
        page = client.get(path)
        assert page.status_code == 200 and "verify-badge" in page.text or "filings" in path
    for path in ("/market", "/market/disclosure", "/market/disclosure?period=2026"):
        assert client.get(path).status_code == 200, path
    assert client.get("/market/12345").status_code == 404


def test_notebook_upload_checks_csrf_and_content(client, tokens, world: World) -> None:
    csrf = login(client, tokens["li"])
    files = {"notebook": ("analysis.ipynb", b"{not a notebook", "application/json")}
    data = {"license_id": str(world.license_id)}
    assert client.post("/console/notebook", data=data, files=files).status_code == 403
    refused = client.post("/console/notebook", data={**data, "csrf": csrf}, files=files)
    assert refused.status_code == 422 and "notebook" in refused.text


def test_row_filters_in_the_license_forms(client, tokens, world: World) -> None:
    """An operator may ask for some rows; the authority adds a filter per dataset."""
    csrf = login(client, tokens["li"])
    applied = client.post(
        "/console/licenses/apply",
        data={
            "csrf": csrf,
            "dataset:enterprise_utilities": "enterprise_utilities",
            "dataset:social_insurance": "social_insurance",
            "row_filter:enterprise_utilities": "district = '镇海区'",
            "row_filter:social_insurance": "  ",  # left empty: all rows
            "scenario": "园区招商",
            "purpose": "district statistics",
            "max_level": "L2",
            "valid_until": (date.today() + timedelta(days=20)).isoformat(),
            "epsilon": "3",
        },
    )
    assert applied.status_code == 303, applied.text
    license_id = int(applied.headers["location"].split("license+")[1].split(":")[0])
    csrf = login(client, tokens["gao"])
    page = client.get("/console/licenses").text
    assert 'name="row_filter:social_insurance"' in page
    wrong = client.post(
        f"/console/licenses/{license_id}/approve",
        data={"csrf": csrf, "row_filter:enterprise_utilities": "insured_staff > 1"},
    )
    assert wrong.status_code == 422 and "insured_staff" in wrong.text
    approved = client.post(
        f"/console/licenses/{license_id}/approve",
        data={"csrf": csrf, "row_filter:social_insurance": "insured_staff >= 20"},
    )
    assert approved.status_code == 303, approved.text
    page = client.get("/console/licenses").text
    assert "enterprise_utilities: district = &#39;镇海区&#39;" in page
    assert "social_insurance: insured_staff &gt;= 20" in page


def test_the_timeline_hides_routine_entries_until_asked(client, tokens, world: World) -> None:
    with world.domain.transaction() as session:
        for n in range(3):
            append(session, AUTHORITY, AuditAction.TOKEN_USED, "user:1", {"count": 7, "n": n})
        close_token_use(session)
    login(client, tokens["chen"])
    default = client.get("/console/audit")
    timeline = default.text.split('id="timeline"')[1]
    assert default.status_code == 200 and "token.used" not in timeline
    assert 'id="hidden-routine"' in default.text and "license.granted" in timeline
    shown = client.get("/console/audit?all=true").text.split('id="timeline"')[1]
    assert shown.count("<code>token.used</code>") >= 3
    named = client.get("/console/audit?action=token.").text.split('id="timeline"')[1]
    assert named.count("<code>token.used</code>") >= 3 and "license.granted" not in named
