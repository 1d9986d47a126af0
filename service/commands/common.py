"""What every command module shares: the --json flag, the acting admin, the opened domain.

Domain modules are imported inside the functions here and in every command module, so
that a group's `--help` loads only typer (the signatures use builtins only).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from core.errors import InvalidInput

if TYPE_CHECKING:
    from audit_log import Actor
    from service.domain import Domain

Json = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def admin() -> Actor:
    """The host's administrator, who acts for every command run on the host."""
    from audit_log import Actor

    return Actor("host-admin", "admin")


def domain() -> Domain:
    from service.domain import open_domain
    from service.settings import Settings

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
