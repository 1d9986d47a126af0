"""The check the console tests use to find English left on a Chinese page: it must see
a single English word and a dotted code, and leave code, marked data and the few
allowed terms alone, or a page could lose its Chinese without a test noticing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from audit_log import AuditAction
from service.web.formatting import mark_data
from tests.console.conftest import ALLOWED_LATIN, english_words, untranslated_html

ZH = json.loads(
    (Path(__file__).parents[2] / "service" / "web" / "i18n" / "zh-CN.json").read_text("utf-8")
)


def _page(body: str) -> str:
    head = '<!doctype html><html lang="zh-CN"><head><title>Alerts</title></head>'
    return f"{head}<body>{body}</body></html>"


def test_a_single_english_word_is_found() -> None:
    assert untranslated_html(_page("<p>状态：pending</p>")) == {"pending"}
    assert untranslated_html(_page("<td>已出域</td><td>Released</td>")) == {"Released"}


def test_a_dotted_or_underscored_code_is_found_whatever_its_length() -> None:
    found = untranslated_html(_page("<td>alert.near_identical_query</td><li>告警 a_b</li>"))
    assert found == {"alert.near_identical_query", "a_b"}


def test_option_text_is_visible_text() -> None:
    assert untranslated_html(_page("<select><option>draft</option></select>")) == {"draft"}


def test_code_data_and_marked_elements_are_left_out() -> None:
    body = (
        "<p>字段 <code>water_fee</code>，查询 <pre>SELECT district FROM t</pre>"
        "<kbd>Enter</kbd> <samp>done</samp> <textarea>draft query</textarea></p>"
        '<p>数据集 <span translate="no">enterprise_utilities <b>social_insurance</b></span>'
        '，文件 <a data-raw href="#">result.csv</a>，审核员 <td translate="no">wang</td></p>'
        "<script>const state = 'running';</script><style>.badge { color: red }</style>"
    )
    assert untranslated_html(_page(body)) == set()


def test_marked_elements_end_where_they_close() -> None:
    body = '<p><span translate="no">water_fee<br>gas_fee</span> 之后 pending</p>'
    assert untranslated_html(_page(body)) == {"pending"}


def test_allowed_terms_short_words_and_symbols_pass() -> None:
    text = "导出 CSV 或 Parquet；SQL 查询经 DuckDB 运行；L3 字段，ε 0.5，SM3 摘要，ID 12，第 3 页"
    assert english_words(text) == set()
    assert {"SQL", "CSV", "JSON", "DuckDB", "SHA-256"} <= ALLOWED_LATIN
    assert english_words("sql 查询") == {"sql"}  # the allowance is for the term as written


def test_figures_in_a_worded_sentence_are_marked_as_data() -> None:
    marked = mark_data(
        "enterprise_utilities.water_fee（L3）将以行级数据出域",
        {
            "field": "enterprise_utilities.water_fee",
            "level": "L3",
        },
    )
    assert 'translate="no">enterprise_utilities.water_fee</span>' in marked
    assert untranslated_html(_page(f"<p>{marked}</p>")) == set()
    assert untranslated_html(_page("<p>enterprise_utilities.water_fee 将出域</p>"))
    digest = mark_data("SHA-256 摘要 bf1b9ab53e7c3635… 一致", {"digest": "bf1b9ab53e7c3635"})
    assert untranslated_html(_page(f"<p>{digest}</p>")) == set()
    quoted = mark_data("请用 `query()` 获取 <表格>", {})
    assert str(quoted) == "请用 <code>query()</code> 获取 &lt;表格&gt;"


def test_every_alert_has_a_chinese_name() -> None:
    alerts = [a.value for a in AuditAction if a.is_alert]
    unnamed = [a for a in alerts if a not in ZH or english_words(ZH[a])]
    assert alerts and not unnamed, unnamed


# the catalog entries that word what the domain says, each shown through mark_data
DOMAIN_WORDING = re.compile(
    r"^(?:reason|fix|rule|note|problem|suggestion|failure|failure_rule|provenance|error"
    r"|message|hint|step|limit|figure):|^alert\."
)


@pytest.mark.parametrize("key", sorted(k for k in ZH if DOMAIN_WORDING.match(k)))
def test_the_domains_words_read_in_chinese(key: str) -> None:
    """Each wording, with its figures filled in, leaves no English word: SQL and other
    code it quotes stands in backticks, which the console sets as code."""
    filled = re.sub(r"\{[^}]*\}", "7", ZH[key])
    assert untranslated_html(_page(f"<p>{mark_data(filled, None)}</p>")) == set(), ZH[key]
