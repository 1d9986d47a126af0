"""What every command module shares: the --json flag, the acting admin, the opened domain."""

from __future__ import annotations

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


def read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{what} file {path} does not exist; check the path") from None
