"""What the domain says reaches a Chinese reader in Chinese: every rule, finding, failure,
provenance check, error and next step the domain can emit has a zh-CN wording made from
exactly the figures the domain supplies, and the console uses it (English elsewhere)."""

from __future__ import annotations

import ast
import json
from dataclasses import fields
from pathlib import Path
from string import Formatter

import pytest

from audit_log import Actor
from core import errors
from core.errors import NotFound, PermissionDenied, PolicyDenied, SluiceError, Step
from core.failures import FailureKind, JobFailure
from core.messages import HINTS, MESSAGES, message_figures
from gate.findings import PROBLEMS, SUGGESTIONS, WITHHELD, make_finding
from gate.reasons import REASONS as GATE_REASONS
from jobs.lifecycle import transition
from jobs.queries import get_job
from jobs.records import JobStatus, public_failure
from jobs.submit import submit_sql
from policies.reasons import NOTES, REASONS, reason
from products.provenance import CHECKS, ProvenanceCheck
from products.reasons import REASONS as PRODUCT_REASONS
from sandbox.limits import Limits
from service.web.formatting import show_cell
from service.web.i18n import translator
from service.web.wording import (
    check_words,
    error_words,
    failure_words,
    figures_text,
    finding_words,
    reason_words,
)
from tests.conftest import World
from tests.console.conftest import login, untranslated_html

ROOT = Path(__file__).parents[2]
ZH = json.loads((ROOT / "service" / "web" / "i18n" / "zh-CN.json").read_text("utf-8"))
L3_PROJECTED = "SELECT water_fee FROM enterprise_utilities"
L3_ENGLISH = "enterprise_utilities.water_fee (L3) would leave as row-level data"
L3_FIELD = "enterprise_utilities.water_fee"


def _figures(template: str | None) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template or "") if name}


def _sluice_errors() -> list[type[SluiceError]]:
    found, todo = [], [SluiceError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return [c for c in found if c.__module__ == errors.__name__]


# (catalog key, the figures the domain supplies for it)
EVERY_REASON = {**REASONS, **PRODUCT_REASONS, **GATE_REASONS}
WORDINGS = [
    *((f"reason:{rule}", _figures(w.message)) for rule, w in EVERY_REASON.items()),
    *((f"fix:{rule}", _figures(w.suggestion)) for rule, w in EVERY_REASON.items() if w.suggestion),
    *((f"note:{code}", _figures(text)) for code, text in NOTES.items()),
    *((f"problem:{rule}", _figures(PROBLEMS[rule])) for rule in PROBLEMS),
    *((f"suggestion:{rule}", _figures(SUGGESTIONS[rule])) for rule in SUGGESTIONS),
    (f"suggestion:{WITHHELD['rule']}", set()),
    *((f"failure:{kind}", {"detail"}) for kind in FailureKind),
    ("failure:error:withheld", {"detail"}),
    *((f"provenance:{check}", _figures(ok)) for check, (ok, _) in CHECKS.items()),
    *((f"provenance:{check}:failed", _figures(bad)) for check, (_, bad) in CHECKS.items()),
    *((f"error:{cls.code}", set()) for cls in _sluice_errors()),
    *((f"message:{code}", _figures(template)) for code, template in MESSAGES.items()),
    *((f"hint:{code}", _figures(template)) for code, template in HINTS.items()),
    *((f"step:{step}", set()) for step in Step),
    *((f"limit:{field.name}", set()) for field in fields(Limits)),
    *((f"rule:{rule}", set()) for rule in [*EVERY_REASON, *PROBLEMS, WITHHELD["rule"]]),
]


@pytest.mark.parametrize(("key", "supplied"), WORDINGS, ids=[k for k, _ in WORDINGS])
def test_every_code_the_domain_emits_has_a_chinese_wording(key: str, supplied: set[str]) -> None:
    """A new rule, check, failure kind or error without Chinese fails here, by name."""
    assert key in ZH, f"{key} has no zh-CN wording"
    assert _figures(ZH[key]) == supplied, f"{key}: zh-CN must use exactly {sorted(supplied)}"


def test_the_registries_name_their_rules_apart() -> None:
    """Both registries word `reason:<rule>` from one catalog: a shared code would be
    worded with the other package's sentence."""
    registries = [REASONS, PRODUCT_REASONS, GATE_REASONS]
    for i, first in enumerate(registries):
        for second in registries[i + 1 :]:
            assert not first.keys() & second.keys()


def test_policies_and_prices_make_reasons_only_through_the_registry() -> None:
    """A reason built by hand would carry no figures and no registered wording."""
    by_hand = []
    pricing = [ROOT / "products" / f"{name}.py" for name in ("pricing", "fees", "templates")]
    for path in [*sorted((ROOT / "policies").glob("*.py")), *pricing]:
        if path.name == "reasons.py":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Reason":
                by_hand.append(f"{path.name}:{node.lineno}")
    assert not by_hand, f"use policies.reasons.reason: {by_hand}"


def test_a_reason_is_worded_from_its_figures_in_either_language() -> None:
    refusal = reason("budget_exhausted", needed=0.5, license=7, left=0.25)
    assert refusal.message == "this query needs ε=0.500 but license 7 has ε=0.250 left"
    assert refusal.to_dict()["figures"] == {"needed": 0.5, "license": 7, "left": 0.25}
    zh = reason_words(refusal.to_dict(), translator("zh-CN"))
    assert zh.message == "本查询需要 ε=0.500，但授权 7 只剩 ε=0.250"
    assert zh.suggestion == ZH["fix:budget_exhausted"]
    en = reason_words(refusal, translator("en"))
    assert (en.message, en.suggestion) == (refusal.message, refusal.suggestion)
    with pytest.raises(ValueError, match="figures"):
        reason("budget_exhausted", needed=0.5)  # a figure short: refused, not worded wrong


def test_a_record_from_before_figures_keeps_its_english() -> None:
    old = {"rule": "budget_exhausted", "message": "this query needs ε=1.000 but …"}
    assert reason_words(old, translator("zh-CN")).message == old["message"]
    unknown = {"rule": "some_future_rule", "message": "said in English"}
    assert reason_words(unknown, translator("zh-CN")).message == "said in English"


def test_findings_name_their_cell_and_figures_in_chinese() -> None:
    finding = make_finding("threshold", 3, "n", {"n": 4, "threshold": 10}).to_dict()
    zh = finding_words(finding, translator("zh-CN"))
    assert zh.message == "第 3 行，字段 n：只涉及 4 个隐私单元，少于 10 个"
    assert zh.suggestion == "请放粗分组，使每个单元格至少涉及 10 个单元。"
    en = finding_words(finding, translator("en"))
    assert (en.message, en.suggestion) == (finding["message"], finding["suggestion"])
    share = make_finding(
        "too_much_suppressed", None, None, {"suppressed_share": 0.75, "max_suppressed_share": 0.5}
    )
    assert finding_words(share.to_dict(), translator("zh-CN")).message == (
        "整表：有 75% 的聚合单元格被隐匿，超过 50%"
    )


def test_failures_are_worded_by_kind_with_the_limit_or_rule_named() -> None:
    t = translator("zh-CN")
    assert failure_words(JobFailure(FailureKind.LIMIT, "memory_mb"), t) == "达到沙箱限制：内存"
    no_outputs = JobFailure(FailureKind.RULE, "no_outputs: the notebook wrote nothing to /out")
    assert failure_words(no_outputs, t) == "违反沙箱或队列规则：笔记本没有向 /out 写入任何文件"
    # an engine error, as its operator sees it: first words only, then a Chinese note
    seen = public_failure(JobFailure(FailureKind.ERROR, "ConversionException: '13800138000'"))
    assert seen is not None
    worded = failure_words(seen, t)
    assert worded == "运行出错（ConversionException）；审核人员可查看完整信息"
    assert "13800138000" not in worded
    en = translator("en")
    assert (
        failure_words(no_outputs, en) == f"Stopped by a sandbox or queue rule: {no_outputs.detail}"
    )
    assert failure_words(JobFailure(FailureKind.LIMIT, "memory_mb"), en) == (
        "Stopped at a sandbox limit: memory"
    )


def test_provenance_checks_are_worded_from_their_figures() -> None:
    check = ProvenanceCheck(
        "reviews", True, "…", {"approvals": 2, "required": 2, "reviewers": "wang, zhao"}
    )
    assert (
        check_words(check.to_dict(), translator("zh-CN"))
        == "已记录 2 个批准，需要 2 个：wang, zhao"
    )
    assert check_words(check.to_dict(), translator("en")) == "…"


def test_a_denied_query_reads_in_chinese_on_the_check_page(client, tokens, world: World) -> None:
    csrf = login(client, tokens["li"])
    form = {"csrf": csrf, "license_id": str(world.license_id), "sql": L3_PROJECTED}
    zh = client.post("/console/jobs/check", data=form).text
    # the field is data, marked so (translate="no"); the sentence around it is Chinese
    assert f'<span translate="no">{L3_FIELD}</span>（L3）将以行级数据出域' in zh
    assert L3_ENGLISH not in zh and "rule:" not in zh
    client.get("/lang/en?next=/console/jobs/new")
    en = client.post("/console/jobs/check", data=form).text
    marked = L3_ENGLISH.replace(L3_FIELD, f'<span translate="no">{L3_FIELD}</span>')
    assert marked in en and "将以行级数据出域" not in en


def test_denied_and_failed_jobs_read_in_chinese(client, tokens, world: World) -> None:
    settings = world.domain.settings.job_settings()
    with world.domain.transaction() as session:
        denied = submit_sql(session, world.license_id, world.operator, L3_PROJECTED, settings).id
        failed = submit_sql(
            session,
            world.license_id,
            world.operator,
            "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district",
            settings,
        ).id
        job = get_job(session, failed)
        job.failure = JobFailure(FailureKind.LIMIT, "wall_seconds")
        transition(session, job, JobStatus.FAILED, Actor.system(), {"failure": job.failure})
    login(client, tokens["li"])
    page = client.get(f"/console/jobs/{denied}").text
    assert "将以行级数据出域" in page and L3_ENGLISH not in page
    page = client.get(f"/console/jobs/{failed}").text
    assert "达到沙箱限制：运行时长" in page and "limit:wall_seconds" not in page


def test_an_error_page_words_its_kind_and_next_step(client, tokens) -> None:
    t = translator("zh-CN")
    refused = PolicyDenied("query denied", [reason("no_sampling")], step=Step.LIST_LICENSES)
    said = error_words(refused, t)
    assert said.message == "查询被策略引擎拒绝"  # the reasons below it say the rest
    assert said.suggestion == ZH["step:list_licenses"]
    lone = NotFound("job 99 does not exist")
    assert error_words(lone, t).message == "未找到：job 99 does not exist"  # facts kept
    assert error_words(lone, translator("en")).message == lone.message


def test_the_api_stays_english_with_codes_and_figures_added(client, tokens, world: World) -> None:
    """The API's reasons keep every key they had; `figures` is the one key added."""
    headers = {"Authorization": f"Bearer {tokens['li']}"}
    body = {"license_id": world.license_id, "sql": L3_PROJECTED}
    checked = client.post("/api/v1/policy/check", json=body, headers=headers)
    assert checked.status_code == 200, checked.text
    [found] = [r for r in checked.json()["reasons"] if r["rule"] == "row_level_output"]
    assert found["message"].startswith(L3_ENGLISH)
    assert set(found) == {"rule", "message", "column", "level", "suggestion", "figures"}
    assert found["figures"] == {
        "field": "enterprise_utilities.water_fee",
        "column_level": "L3",
    }


def test_a_gate_record_names_its_figures_in_chinese() -> None:
    record = {"threshold": 10, "files": [{"name": "result.csv", "blocked": False}]}
    shown = figures_text(record, translator("zh-CN"), lambda v: show_cell(v, "zh-CN"))
    assert shown == "最小单元数: 10; 文件: 名称: result.csv; 已拦截: 否"
    english = figures_text(record, translator("en"), lambda v: show_cell(v, "en"))
    assert english == "threshold: 10; files: name: result.csv; blocked: no"


def test_what_the_engine_did_is_noted_in_chinese(client, tokens, world: World) -> None:
    csrf = login(client, tokens["li"])
    sql = "SELECT district, AVG(water_fee) AS f FROM enterprise_utilities GROUP BY district"
    form = {"csrf": csrf, "license_id": str(world.license_id), "sql": sql}
    zh = client.post("/console/jobs/check", data=form).text
    # the demo data has one row per enterprise (counted at ingest): no per-unit bound
    assert "差分隐私（ε=" in zh and "入库时已证明每个 enterprise_id 只有一行" in zh
    assert "differential privacy" not in zh and "proven at ingest" not in zh
    client.get("/lang/en?next=/console/jobs/new")
    en = client.post("/console/jobs/check", data=form).text
    assert "differential privacy (ε=" in en and "差分隐私" not in en


def test_a_coded_error_says_todays_english_and_carries_its_figures() -> None:
    """The template makes the very sentence the raise made before it was coded."""
    missing = NotFound.coded("job_missing", job_id=99)
    assert missing.message == "no job with id 99"
    assert (missing.message_code, missing.figures) == ("job_missing", {"job_id": 99})
    assert message_figures("role_needed") == {"roles", "role"}
    with pytest.raises(ValueError, match="figures"):
        NotFound.coded("job_missing")  # a figure short: refused, not worded wrong
    with pytest.raises(KeyError):
        NotFound.coded("no_such_code")


def test_a_coded_error_is_worded_in_chinese_with_its_roles() -> None:
    zh = translator("zh-CN")
    missing = NotFound.coded("job_missing", job_id=99)
    assert error_words(missing, zh).message == "未找到：没有编号为 99 的任务"
    refused = PermissionDenied.coded("role_needed", roles="reviewer or authority", role="operator")
    assert error_words(refused, zh).message == (
        "无权执行此操作：此操作需要审核员或数据主管部门角色；您的角色是运营单位"
    )
    en = translator("en")
    assert (
        error_words(refused, en).message
        == "this needs the role reviewer or authority; you are operator"
    )


def test_not_found_and_refused_pages_have_no_english_sentence(client, tokens) -> None:
    login(client, tokens["li"])
    missing = client.get("/console/jobs/99999")
    assert missing.status_code == 404
    assert "没有编号为 99999 的任务" in missing.text
    assert not untranslated_html(missing.text), untranslated_html(missing.text)
    refused = client.get("/console/review")
    assert refused.status_code == 403
    assert "您的角色是运营单位" in refused.text
    assert not untranslated_html(refused.text), untranslated_html(refused.text)
    client.get("/lang/en?next=/console/jobs")
    assert "no job with id 99999" in client.get("/console/jobs/99999").text


def test_the_api_keeps_the_english_detail_and_adds_the_code(client, tokens) -> None:
    headers = {"Authorization": f"Bearer {tokens['li']}"}
    answer = client.get("/api/v1/jobs/99999", headers=headers)
    assert answer.status_code == 404
    body = answer.json()
    assert body["detail"] == "no job with id 99999"
    assert (body["error"], body["code"], body["figures"]) == (
        "not_found",
        "job_missing",
        {"job_id": 99999},
    )


def test_a_hint_is_the_codes_own_next_step_in_either_language() -> None:
    """A code with a registered hint brings its next step; the console words it."""
    wrong = PermissionDenied.coded("password_wrong")
    assert str(wrong) == "the name or password is wrong; try again"
    worded = error_words(wrong, translator("zh-CN"))
    assert (worded.suggestion, ZH["message:password_wrong"] in worded.message) == ("请重试", True)
    with pytest.raises(ValueError, match="registered hint"):
        PermissionDenied.coded("password_wrong", suggestion="something else")


def test_every_hint_uses_only_its_messages_figures() -> None:
    assert [code for code in HINTS if not _figures(HINTS[code]) <= message_figures(code)] == []


def test_every_coded_raise_names_a_registered_code_with_its_figures() -> None:
    """A typo in a code or a figure would only fail when that raise is reached; read
    every `.coded(...)` call in the domain and the service instead."""
    wrong = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        if path.parts[len(ROOT.parts)] in ("tests", "bench", ".venv"):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "coded"):
                continue
            code = node.args[0].value if node.args else None  # type: ignore[attr-defined]
            named = {k.arg for k in node.keywords}
            given = named - {"suggestion", "step"}
            hinted_twice = code in HINTS and "suggestion" in named  # coded() refuses it
            if code not in MESSAGES or given != message_figures(code) or hinted_twice:
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} {code}")
    assert not wrong, wrong


# Errors built from a sentence rather than a code, each for a reason the console can live
# with: library text (Click's usage line), a stored error rebuilt with its own code, and
# refusals recorded in the audit log that no one reads as a sentence.
UNCODED = {
    "service/cli.py": "Click's own usage message",
    "service/web/ingest_runs.py": "a stored failure rebuilt with its code and figures",
    "service/problems.py": "a request refusal recorded, never shown",
}
ERROR_NAMES = {cls.__name__ for cls in _sluice_errors()}


def test_every_error_the_domain_raises_is_coded_or_carries_worded_reasons() -> None:
    """A sentence typed at the raise would reach a Chinese reader in English: errors are
    made with `.coded(...)`, or carry reasons (each worded from its registry)."""
    wrong = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        relative = str(path.relative_to(ROOT))
        if path.parts[len(ROOT.parts)] in ("tests", "bench", ".venv") or relative in UNCODED:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) in ERROR_NAMES):
                continue
            has_reasons = len(node.args) > 1 or any(k.arg == "reasons" for k in node.keywords)
            if not has_reasons:
                wrong.append(f"{relative}:{node.lineno}")
    assert not wrong, wrong
