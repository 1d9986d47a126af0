"""Usage errors (unknown option or command, missing argument, a value of the wrong type)
through the real Typer app in process: under --json the same error document as any
other refusal, Click's exit code 2; without --json, Click's own text on stderr."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from service.cli import app

runner = CliRunner()
# case -> (words, what the message says, the command whose help the hint names)
MISTAKES = {
    "unknown option": (["users", "add", "ann", "--bogus"], "No such option: --bogus", "users add"),
    "missing argument": (["users", "add"], "Missing argument", "users add"),
    "unknown command": (["users", "bogus"], "No such command 'bogus'", "users"),
    "not a number": (["jobs", "show", "abc"], "Invalid value for 'job_id'", "jobs show"),
    "unknown root option": (["--bogus"], "No such option: --bogus", ""),
}


@pytest.mark.parametrize("case", MISTAKES)
def test_a_usage_error_under_json_is_one_error_document(case: str) -> None:
    words, said, command = MISTAKES[case]
    result = runner.invoke(app, [*words, "--json"])
    assert result.exit_code == 2 and result.stderr == ""
    body = json.loads(result.stdout)
    assert set(body) == {"error"}
    error = body["error"]
    assert (error["code"], error["exit_code"]) == ("invalid_input", 2)
    assert said in error["message"]
    assert error["suggestion"].startswith("see `") and error["suggestion"].endswith(
        f"{command} --help`".lstrip()
    )


@pytest.mark.parametrize("case", MISTAKES)
def test_without_json_a_usage_error_keeps_clicks_text(case: str) -> None:
    words, said, _command = MISTAKES[case]
    result = runner.invoke(app, words)
    assert result.exit_code == 2 and result.stdout == ""
    assert said in result.stderr and "Usage:" in result.stderr
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stderr)


def test_a_json_flag_meant_for_another_command_still_gets_a_document() -> None:
    """`--json` given where the command has none is itself the usage error."""
    result = runner.invoke(app, ["users", "--json"])
    assert result.exit_code == 2
    assert "--json" in json.loads(result.stdout)["error"]["message"]
