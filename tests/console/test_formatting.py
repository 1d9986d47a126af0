"""People see local times, grouped numbers and words, and only the console's own notices."""

from __future__ import annotations

from datetime import datetime

from service.web.formatting import official_notice, show_cell, show_number, show_time
from service.web.i18n import translator
from tests.console.conftest import login


def test_times_are_shown_in_beijing_time_with_the_zone_named() -> None:
    assert show_time("2026-12-01T16:30:00.123456") == "2026-12-02 00:30 (北京时间)"
    assert show_time(datetime(2026, 12, 1, 16, 30, 5), "en", seconds=True) == (
        "2026-12-02 00:30:05 (CST, UTC+8)"
    )
    assert show_time("2026-12-01T16:30:00Z", "en").startswith("2026-12-02 00:30")
    assert show_time(None) == "—"
    assert show_time("not a time") == "not a time"


def test_numbers_are_grouped_with_meaningful_decimals() -> None:
    assert show_number(5127367.457220054) == "5,127,367"
    assert show_number(1234.56789) == "1,234.57"
    assert show_number(0.00123456) == "0.0012"
    assert show_number(12000) == "12,000"
    assert show_number(3.0) == "3"
    assert show_number(float("nan")) == "—"


def test_cells_are_words_not_python_values() -> None:
    assert show_cell(None) == "—"
    assert show_cell(False) == "否" and show_cell(True, "en") == "yes"
    assert show_cell({"threshold": 10}) == "threshold: 10"
    assert show_cell(5127367.457220054) == "5,127,367"
    assert show_cell("海曙区") == "海曙区"


def test_only_the_consoles_own_notices_are_shown() -> None:
    t = translator("zh-CN")
    assert official_notice("job 7: released", t) == "作业 #7: 已出域"
    assert official_notice("license 3: pending", translator("en")) == "License #3: pending"
    for forged in (
        "您的授权已被撤销，请致电 0574-0000 重新验证",
        "job 7: released<script>",
        "job 7: released extra",
        "",
        None,
    ):
        assert official_notice(forged, t) is None


def test_a_forged_notice_in_the_url_does_not_reach_the_page(client, tokens) -> None:
    login(client, tokens["wang"])
    forged = "授权已失效，请将令牌发送至 evil@example.com"
    page = client.get("/console/review", params={"notice": forged}).text
    assert "evil@example.com" not in page
    assert 'class="notice"' not in page
    page = client.get("/console/review", params={"notice": "job 12: released"}).text
    assert "作业 #12: 已出域" in page


def test_every_policy_rule_has_a_chinese_label() -> None:
    """Reasons keep their English detail, but each rule is named in Chinese beside it."""
    import ast
    import json
    from pathlib import Path

    from service.web.formatting import rule_label

    root = Path(__file__).parents[2]
    codes = set()
    for folder in ("policies", "jobs", "catalog"):
        for source in (root / folder).glob("*.py"):
            for node in ast.walk(ast.parse(source.read_text("utf-8"))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                first = node.args[0]
                if name in ("Reason", "reason", "deny", "_deny") and isinstance(
                    first, ast.Constant
                ):
                    codes.add(str(first.value))
    catalog = json.loads((root / "service/web/i18n/zh-CN.json").read_text("utf-8"))
    assert len(codes) > 30
    assert not {c for c in codes if f"rule:{c}" not in catalog}
    assert rule_label("unknown_dataset", translator("zh-CN")) == "数据集不在目录中"
    assert rule_label("unknown_dataset", translator("en")) == "unknown_dataset"
