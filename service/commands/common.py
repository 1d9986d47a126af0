"""What every command module shares: the --json flag, the acting admin, the opened domain."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from audit_log import Actor
from core.errors import InvalidInput
from service.domain import Domain, open_domain
from service.settings import Settings

Json = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
ADMIN = Actor("host-admin", "admin")


def domain() -> Domain:
    return open_domain(Settings())


# A missing input file, by what the file holds: one code each, so none is worded in English.
_FILE_MISSING: dict[str, Callable[[str], InvalidInput]] = {
    "SQL": lambda path: InvalidInput.coded("cli_sql_file_missing", path=path),
    "notebook": lambda path: InvalidInput.coded("cli_notebook_file_missing", path=path),
    "proof": lambda path: InvalidInput.coded("cli_proof_file_missing", path=path),
    "kept heads": lambda path: InvalidInput.coded("cli_heads_file_missing", path=path),
}


def read_text(path: Path, what: str) -> str:
    """The text of an input file; `what` is one of `_FILE_MISSING`'s kinds."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _FILE_MISSING[what](str(path)) from None
