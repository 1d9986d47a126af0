"""`sluice --help` starts without the heavy libraries: they load with the command that
needs them, so help, completion and typos answer at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.cli import COMMANDS

HEAVY = ("fastapi", "pandas", "duckdb", "diffprivlib", "sqlglot", "sklearn", "docker", "pyarrow")
SHOW_LOADED = """
import json, sys
from service.cli import app
try:
    app({args!r})
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})))
"""


def loaded_after(*args: str, home: Path | None = None) -> list[str]:
    code = SHOW_LOADED.format(args=list(args), heavy=set(HEAVY))
    env = {**os.environ, "SLUICE_HOME": str(home)} if home else None
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_help_imports_no_heavy_library() -> None:
    assert loaded_after("--help") == []
    assert loaded_after("--version") == []


@pytest.mark.slow
@pytest.mark.parametrize("group", sorted(COMMANDS))
def test_a_group_help_imports_no_heavy_library(group: str) -> None:
    """Every group's own help: typer reads the signatures, which name builtins only."""
    assert loaded_after(group, "--help") == []


@pytest.mark.slow
def test_a_command_still_gets_its_libraries(tmp_path: Path) -> None:
    """The lazy imports are not stubs: running a command imports what it needs (here
    before it finds no domain in the empty home)."""
    ran = loaded_after("policy", "check", "--license", "1", "--sql", "q.sql", home=tmp_path)
    assert "sqlglot" in {m.split(".")[0] for m in ran}
