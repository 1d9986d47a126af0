"""How the CLI speaks: one JSON document with --json, readable lines otherwise, and
one place that turns domain errors into a one-line message and an exit code.

Domain errors say what to do in the domain's words; here each step becomes the
command or flag a person types (`{suggestion}` stands for the domain's words).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from audit_log import Actor
from core.errors import SluiceError, Step

F = TypeVar("F", bound=Callable[..., Any])

COMMANDS: dict[Step, str] = {
    Step.INIT_DOMAIN: "run `sluice init` first (or set SLUICE_HOME)",
    Step.ADD_OPERATOR: "add it with `sluice operators add`",
    Step.ADD_USER: "add it with `sluice users add`",
    Step.NAME_COMPANY: "give --operator COMPANY",
    Step.DROP_COMPANY: "drop --operator",
    Step.CREATE_TOKEN: "create one with `sluice tokens create`",
    Step.LIST_LICENSES: "see `sluice licenses list`",
    Step.LICENSE_END_DATE: "give a later date with --until",
    Step.LICENSE_BUDGET: "give a positive --epsilon",
    Step.LICENSE_DATASETS: "give at least one --dataset",
    Step.ROW_FILTER_DATASETS: "{suggestion}: each --row-filter names one of the --dataset given",
    Step.ROW_FILTER_FORM: "give --row-filter DATASET:EXPR, e.g. "
    "--row-filter \"enterprise_utilities:district = '镇海区'\"",
    Step.LIST_JOBS: "see `sluice jobs list`",
    Step.SHOW_JOB: "see `sluice jobs show JOB` for its release",
    Step.SUBMIT_FOR_SPARK: "submit it again with --engine spark",
    Step.GIVE_REASON: "{suggestion} with --reason",
    Step.DENY_PLAINLY: "deny without --exception",
    Step.APPROVE_AS_EXCEPTION: "approve them with --exception and a written --reason, or deny",
    Step.SHOW_FINDINGS: "see `sluice review show JOB` for the findings",
    Step.MAKE_KEY_PAIR: "make one with `sluice releases keygen`",
    Step.GIVE_PRIVATE_KEY: "give the operator's private key with --key",
    Step.LIST_PRODUCTS: "see `sluice products list`",
    Step.NAME_A_RULE: "give at least one rule to set, e.g. --threshold 20",
    Step.ALLOW_WEAKER: (
        "{suggestion}: SLUICE_DISCLOSURE_ALLOW_WEAKER for the domain, "
        "--allow-weaker RULE for a dataset"
    ),
    Step.VERIFY_LOG: "run `sluice audit verify` to find out why",
    Step.SIGN_HEAD: "run `sluice audit checkpoint`, or wait for the next interval",
    Step.EXPORT_PUBLIC_KEY: "export it with `sluice audit pubkey`",
}


def one_line(error: SluiceError) -> str:
    """The message, then what to type next (or the domain's words where no command fits)."""
    hint = error.suggestion
    if error.step is not None and error.step in COMMANDS:
        hint = COMMANDS[error.step].format(suggestion=error.suggestion or "")
    return f"{error.message}; {hint}" if hint else error.message


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
                print(f"sluice: {one_line(error)}", file=sys.stderr)
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
