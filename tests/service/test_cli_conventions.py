"""CLI conventions, through the real Typer app in process (no subprocess, so not slow):
help on every command and option, `list` for every noun, `--version`, one table style
and one JSON shape (refusals included), progress bars only for a person at a terminal,
`catalog ingest --new-version`, and `demo` keeping an earlier home."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from audit_log import AuditEntry
from catalog import get_dataset
from service.cli import COMMANDS, app, full_command
from service.output import progress, wants_progress
from tests.conftest import World

runner = CliRunner()
# groups of verbs over something other than stored records: nothing to list
NOT_NOUNS = {
    "policy": "asks the policy engine about one query",
    "outputs": "checks one table file; its rules are shown by `outputs rules show`",
    "outputs rules": "the domain's rule set is one record (`show`), not a list",
    "sandbox": "the host's backends and a licence's limits, not records",
}


def sluice(*args: str) -> Any:
    return runner.invoke(app, list(args))


def commands() -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []

    def walk(command: Any, path: str) -> None:
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}".strip())

    walk(full_command(), "")
    return found


def test_every_command_and_option_has_help() -> None:
    found = commands()
    assert len(found) > 70
    bare = [path for path, c in found if not c.hidden and not (c.help or c.short_help)]
    assert bare == []
    params = [(path, p.name) for path, c in found for p in c.params if not getattr(p, "help", None)]
    assert params == []


def test_the_root_listing_shows_each_commands_own_help() -> None:
    """`sluice --help` lists commands before importing them; its text must be theirs."""
    loaded = dict(commands())
    assert {name: help for name, (_, _, help) in COMMANDS.items()} == {
        name: loaded[name].help.split("\n\n")[0] for name in COMMANDS
    }


def test_every_noun_has_a_list_command() -> None:
    groups = [(path, c) for path, c in commands() if path and hasattr(c, "commands")]
    assert len(groups) > 10
    missing = [path for path, c in groups if "list" not in c.commands and path not in NOT_NOUNS]
    assert missing == []
    for noun in ("operators", "users", "tokens", "releases", "review", "audit", "catalog"):
        result = sluice(noun, "list", "--help")
        assert result.exit_code == 0 and "--json" in result.output, noun


def test_version() -> None:
    from importlib.metadata import version

    result = sluice("--version")
    assert result.exit_code == 0 and result.output.strip() == f"sluice {version('sluice')}"


LISTS = [
    (("operators", "list"), ["company"], "甬城数据运营有限公司"),
    (("users", "list"), ["user", "role", "company"], "mallory"),
    (("tokens", "list"), ["user", "expires (UTC)", "revoked"], "li"),
    (("licenses", "list"), ["licence", "company", "ε spent"], "enterprise_utilities"),
    (("catalog", "list"), ["dataset", "version", "rows"], "social_insurance"),
    (("audit", "list"), ["seq", "action", "subject"], "dataset.ingested"),
    (("jobs", "list"), [], "no jobs"),
    (("releases", "list"), [], "nothing released yet"),
    (("review", "list"), [], "nothing awaits review"),
    (("products", "list"), [], "no products"),
]


@pytest.mark.parametrize(("args", "headers", "shown"), LISTS, ids=[" ".join(a) for a, *_ in LISTS])
def test_lists_are_tables_for_people_and_arrays_in_json(
    world: World, args: tuple[str, ...], headers: list[str], shown: str
) -> None:
    sluice("tokens", "create", "li")
    human = sluice(*args)
    assert human.exit_code == 0, human.output
    assert all(h in human.output for h in headers) and shown in human.output
    assert "{'" not in human.output and "\t" not in human.output  # no reprs, no bare TSV
    as_json = sluice(*args, "--json")
    assert as_json.exit_code == 0 and isinstance(json.loads(as_json.stdout), list)


def test_a_table_has_one_header_row_and_one_row_per_record(world: World) -> None:
    output = sluice("users", "list").output.splitlines()
    names = ["li", "mallory", "wang", "zhao", "chen"]
    assert output[0].split() == ["id", "user", "role", "company"]
    rows = [line.split() for line in output[2:] if line.strip()]
    assert [row[1] for row in rows] == names
    assert sluice("tokens", "list", "--json").stdout.strip() == "[]"
    assert "slc_" not in sluice("tokens", "list").output


def test_a_refusal_under_json_is_one_error_document(world: World) -> None:
    refused = sluice("jobs", "show", "999", "--json")
    assert refused.exit_code == 3 and refused.stderr == ""
    body = json.loads(refused.stdout)
    assert set(body) == {"error"}
    error = body["error"]
    assert (error["code"], error["exit_code"]) == ("not_found", 3)
    assert "999" in error["message"] and "sluice jobs list" in error["suggestion"]
    plain = sluice("jobs", "show", "999")
    assert plain.exit_code == 3 and plain.stdout == ""
    assert plain.stderr.startswith("sluice: no job with id 999")


def test_the_error_document_words_the_next_step_for_the_cli(world: World) -> None:
    unknown = sluice("users", "add", "ann", "--role", "operator", "--json")
    assert unknown.exit_code == 2
    assert json.loads(unknown.stdout)["error"]["suggestion"] == "give --operator COMPANY"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_for_a_person_at_a_terminal() -> None:
    assert not wants_progress(False, io.StringIO())
    assert not wants_progress(True, Terminal())
    assert wants_progress(False, Terminal())
    quiet = io.StringIO()
    with progress("ingest", 4, False, quiet) as step:
        step("reading", 1)
    assert quiet.getvalue() == ""
    screen = Terminal()
    with progress("ingest", 4, False, screen) as step:
        step("desensitizing 3,000 rows", 2)
    drawn = screen.getvalue()
    assert "desensitizing 3,000 rows" in drawn and "100%" in drawn


def test_ingest_again_as_a_new_version(world: World, demo_files) -> None:
    data, schema = demo_files[0]
    again = sluice("catalog", "ingest", str(data), "--schema", str(schema), "--json")
    assert again.exit_code == 4
    assert "--new-version" in json.loads(again.stdout)["error"]["suggestion"]
    with world.domain.transaction() as session:
        before = get_dataset(session, "enterprise_utilities").to_dict()
        old_store = get_dataset(session, "enterprise_utilities").store_path
    result = sluice(
        "catalog", "ingest", str(data), "--schema", str(schema), "--new-version", "--json"
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)  # only the document: no progress under --json
    assert shown["version"] == before["version"] + 1 == 2
    assert shown["row_count"] == before["row_count"]
    with world.domain.transaction() as session:
        record = get_dataset(session, "enterprise_utilities")
        assert record.store_path != old_store
        assert (world.domain.home.root / record.store_path).is_file()
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "dataset.versioned")
        ).all()
    assert (world.domain.home.root / old_store).is_file()  # jobs that used v1 can be traced
    assert [e.subject for e in entries] == ["dataset:enterprise_utilities"]
    table = sluice("catalog", "show", "enterprise_utilities").output
    assert "version" in table and "water_fee" in table and "pseudonymize" in table


def test_demo_keeps_an_earlier_demo_home_unless_fresh(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "demo-home"
    home.mkdir()
    (home / ".sluice-demo-home").write_text("created by `sluice demo`\n")
    (home / "notes.txt").write_text("an earlier demo's work")
    monkeypatch.setenv("SLUICE_HOME", str(home))
    result = sluice("demo", "--rows", "100", "--json")
    assert result.exit_code == 4
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "conflict" and "--fresh" in error["suggestion"]
    assert (home / "notes.txt").read_text() == "an earlier demo's work"
