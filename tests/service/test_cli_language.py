"""The CLI speaks zh-CN or English to people (SLUICE_LANG, else the POSIX locale) and
English JSON to machines, through the real Typer app in process: a coded refusal in
Chinese with its figures, English unchanged, and one error document with the sentence's
code and figures."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from string import Formatter
from typing import Any

import pytest
from typer.testing import CliRunner

from core.errors import InvalidInput, PolicyDenied
from policies.reasons import reason
from service.cli import app
from service.output import COMMANDS, cli_language, error_document, refusal_lines
from tests.conftest import World

runner = CliRunner()
ZH = json.loads((Path(__file__).parents[2] / "service/web/i18n/zh-CN.json").read_text("utf-8"))
# the locale variables a test clears so that only the ones it names decide
UNSET: dict[str, str | None] = {"SLUICE_LANG": None, "LC_ALL": None, "LC_MESSAGES": None}


def sluice(*args: str, **env: str | None) -> Any:
    return runner.invoke(app, list(args), env={**UNSET, **env})


def english_words(line: str) -> list[str]:
    """Latin words a person reads, leaving out the prefix and the commands to type."""
    said = re.sub(r"`[^`]*`", "", line.removeprefix("sluice: "))
    return re.findall(r"[A-Za-z]{2,}", said)


CHOICES = [
    ({}, "en"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "zh_CN.UTF-8"}, "zh-CN"),
    ({"LANG": "zh_CN.UTF-8", "LC_MESSAGES": "en_US.UTF-8"}, "en"),
    ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}, "zh-CN"),
    ({"LC_ALL": "C", "LC_MESSAGES": "zh_CN.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"LC_ALL": "zh_CN.GB18030", "LANG": "C"}, "zh-CN"),
    ({"SLUICE_LANG": "zh-CN", "LANG": "C"}, "zh-CN"),
    ({"SLUICE_LANG": "en", "LC_ALL": "zh_CN.UTF-8"}, "en"),
    ({"SLUICE_LANG": "fr", "LANG": "zh_CN.UTF-8"}, "zh-CN"),  # unknown: the locale decides
]


@pytest.mark.parametrize(("environ", "chosen"), CHOICES, ids=[str(e) for e, _ in CHOICES])
def test_sluice_lang_wins_then_the_locale(environ: dict[str, str], chosen: str) -> None:
    assert cli_language(environ) == chosen


def test_a_coded_refusal_reads_in_chinese_with_its_figures(world: World) -> None:
    refused = sluice("jobs", "show", "999", SLUICE_LANG="zh-CN", LANG="C.UTF-8")
    assert refused.exit_code == 3 and refused.stdout == ""
    assert refused.stderr == "sluice: 未找到：没有编号为 999 的任务；请查看 `sluice jobs list`\n"
    assert english_words(refused.stderr) == []


def test_a_chinese_locale_chooses_chinese(world: World) -> None:
    refused = sluice("jobs", "show", "999", LANG="zh_CN.UTF-8")
    assert refused.exit_code == 3
    assert refused.stderr.startswith("sluice: 未找到：没有编号为 999 的任务")


@pytest.mark.parametrize("environ", [{}, {"SLUICE_LANG": "en", "LANG": "zh_CN.UTF-8"}])
def test_english_is_as_before(world: World, environ: dict[str, str]) -> None:
    refused = sluice("jobs", "show", "999", **environ)
    assert refused.exit_code == 3
    assert refused.stderr == "sluice: no job with id 999; see `sluice jobs list`\n"


def test_reasons_are_worded_one_per_line_as_in_english() -> None:
    denied = PolicyDenied(
        "the query was denied",
        reasons=[reason("budget_exhausted", needed=0.5, license=7, left=0.25)],
    )
    english = refusal_lines(denied, "en")
    assert english == [
        "sluice: the query was denied",
        f"  - {denied.reasons[0].message} — {denied.reasons[0].suggestion}",
    ]
    chinese = refusal_lines(denied, "zh-CN")
    assert chinese == [
        f"sluice: {ZH['error:policy_denied']}",
        f"  - 本查询需要 ε=0.500，但授权 7 只剩 ε=0.250 — {ZH['fix:budget_exhausted']}",
    ]
    assert all(english_words(line) == [] for line in chinese)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_error_document_is_english_with_the_sentences_code_and_figures(
    world: World, language: str
) -> None:
    refused = sluice("jobs", "show", "999", "--json", SLUICE_LANG=language)
    assert refused.exit_code == 3 and refused.stderr == ""
    assert json.loads(refused.stdout) == {
        "error": {
            "code": "not_found",
            "message": "no job with id 999",
            "exit_code": 3,
            "suggestion": "see `sluice jobs list`",
            "message_code": "job_missing",
            "figures": {"job_id": 999},
        }
    }


def test_an_uncoded_refusal_has_no_message_code() -> None:
    error = error_document(InvalidInput("give exactly one of --sql FILE or --notebook FILE"))
    assert set(error["error"]) == {"code", "message", "exit_code"}


@pytest.mark.parametrize("flag", [[], ["--json"]])
def test_a_usage_error_still_exits_2_in_chinese(flag: list[str]) -> None:
    result = sluice("users", "add", *flag, SLUICE_LANG="zh-CN")
    assert result.exit_code == 2
    if flag:
        assert json.loads(result.stdout)["error"]["code"] == "invalid_input"
    else:
        assert "Missing argument" in result.stderr


@pytest.mark.parametrize("step", list(COMMANDS), ids=[str(s) for s in COMMANDS])
def test_every_next_step_has_chinese_naming_the_same_command(step: str) -> None:
    """A step the CLI words as a command reads in Chinese with the same command or flags."""
    key = f"cli_step:{step}"
    assert key in ZH, f"{key} has no zh-CN wording"
    assert not [name for _, name, _, _ in Formatter().parse(ZH[key]) if name]
    english = COMMANDS[step]  # type: ignore[index]
    typed = re.findall(r"`[^`]+`|--[a-z-]+|SLUICE_[A-Z_]+", english)
    assert typed and all(part in ZH[key] for part in typed), (typed, ZH[key])


def test_tables_word_their_headers_and_states_in_chinese(world: World) -> None:
    users = sluice("users", "list", SLUICE_LANG="zh-CN").stdout.splitlines()
    assert users[0].split() == ["编号", "用户", "角色", "单位"]
    assert {"li", "mallory", "wang"} <= {line.split()[1] for line in users[2:] if line.strip()}
    licences = sluice("licenses", "list", SLUICE_LANG="zh-CN").stdout
    assert "状态" in licences and ZH["active"] in licences and "active" not in licences
    english = sluice("licenses", "list", SLUICE_LANG="en").stdout
    assert "status" in english and "active" in english and ZH["active"] not in english
    one = sluice("licenses", "show", "1", SLUICE_LANG="zh-CN").stdout.splitlines()
    assert one[0].split() == [ZH["cli_header:field"], ZH["cli_header:value"]]
    assert ["status", ZH["active"]] in [line.split() for line in one]  # the key is data
    dataset = sluice("catalog", "show", "enterprise_utilities", SLUICE_LANG="zh-CN").stdout
    assert ["one_row_per_unit", "是"] in [line.split() for line in dataset.splitlines()]


def _command_headers() -> set[str]:
    """Every header a command names in its columns: `[("key", "header"), ...]`."""
    found: set[str] = set()
    for path in (Path(__file__).parents[2] / "service" / "commands").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.List) and node.elts and all(map(_is_column, node.elts)):
                found |= {column.elts[1].value for column in node.elts}  # type: ignore[attr-defined]
    return found


def _is_column(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Tuple)
        and len(node.elts) == 2
        and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)
    )


def test_every_table_header_has_chinese() -> None:
    headers = _command_headers()
    assert len(headers) > 50 and {"status", "ε total", "row filters"} <= headers
    assert sorted(h for h in headers if f"cli_header:{h}" not in ZH) == []
