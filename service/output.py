"""How the CLI speaks: one JSON document with --json, readable lines otherwise, and
one place that turns domain errors into a one-line message and an exit code."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from audit_log import Actor
from core.errors import SluiceError

F = TypeVar("F", bound=Callable[..., Any])


def emit(data: Any, as_json: bool, human: Callable[[Any], str] | str | None = None) -> None:
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, default=str))
    elif callable(human):
        typer.echo(human(data))
    elif human is not None:
        typer.echo(human)
    else:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def handles_errors(action: str) -> Callable[[F], F]:
    """Catch domain errors: one line on stderr, the refusal in the audit log, non-zero exit."""

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except SluiceError as error:
                _record(action, error)
                print(f"sluice: {error.message}", file=sys.stderr)
                for reason in error.reasons:
                    print(f"  - {reason}", file=sys.stderr)
                raise typer.Exit(error.exit_code) from None

        return run  # type: ignore[return-value]

    return wrap


def _record(action: str, error: SluiceError) -> None:
    from service.domain import open_domain
    from service.settings import Settings

    try:
        open_domain(Settings()).record_refusal(Actor("host-admin", "admin"), action, error)
    except SluiceError:
        pass  # no domain yet (e.g. before `sluice init`): nothing to record into
