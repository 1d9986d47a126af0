"""What every command module shares: the --json flag, the acting admin, the opened domain.

Domain modules are imported inside the functions here and in every command module, so
that a group's `--help` loads only typer (the signatures use builtins only).
"""

from __future__ import annotations

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


def read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{what} file {path} does not exist; check the path") from None
