"""`sluice --help` starts without the heavy libraries: they load with the command that
needs them, so help, completion and typos answer at once."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

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


def loaded_after(*args: str) -> list[str]:
    code = SHOW_LOADED.format(args=list(args), heavy=set(HEAVY))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_help_imports_no_heavy_library() -> None:
    assert loaded_after("--help") == []
    assert loaded_after("--version") == []


@pytest.mark.slow
def test_a_command_still_gets_its_libraries() -> None:
    """The lazy listing is not a stub: running a group imports what it needs."""
    assert "sqlglot" in {m.split(".")[0] for m in loaded_after("policy", "--help")}
