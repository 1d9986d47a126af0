"""How the CLI speaks: one JSON document with --json (a refusal too, as `{"error": {...}}`
on stdout with a non-zero exit), one table style for people (rich), progress bars on
stderr only for a person at a terminal, and one place that turns domain errors into a
one-line message and an exit code. People read a refusal in zh-CN or English
(`cli_language`); JSON is for machines and stays English, as the API's does.

Domain errors say what to do in the domain's words; here each step becomes the
command or flag a person types (`{suggestion}` stands for the domain's words).
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from core.errors import SluiceError, Step

F = TypeVar("F", bound=Callable[..., Any])
# the columns of a table: (key in each record, header); None takes the first record's keys
Columns = Sequence[tuple[str, str]] | None

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
    Step.INGEST_NEW_VERSION: "{suggestion}: `sluice catalog ingest FILE --schema S --new-version`",
    Step.DEMO_FRESH: "give --fresh to delete it and run the demo again",
}


ENGLISH, CHINESE = "en", "zh-CN"
# the POSIX locale's variables for messages, the first one set deciding
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")


def cli_language(environ: Mapping[str, str] | None = None) -> str:
    """The language people read: SLUICE_LANG (zh-CN or en) wins; else a Chinese locale
    (the first set of LC_ALL, LC_MESSAGES, LANG, e.g. zh_CN.UTF-8) chooses zh-CN; else
    English. A SLUICE_LANG in neither language is ignored."""
    found = os.environ if environ is None else environ
    asked = found.get("SLUICE_LANG", "").lower()
    if asked.startswith(("zh", "en")):
        return CHINESE if asked.startswith("zh") else ENGLISH
    locale = next((found[name] for name in LOCALE_VARIABLES if found.get(name)), "")
    return CHINESE if locale.lower().startswith("zh") else ENGLISH


def one_line(error: SluiceError) -> str:
    """The message, then what to type next (or the domain's words where no command fits)."""
    hint = error.suggestion
    if error.step is not None and error.step in COMMANDS:
        hint = COMMANDS[error.step].format(suggestion=error.suggestion or "")
    return f"{error.message}; {hint}" if hint else error.message


def cell(value: Any) -> str:
    """A value as a person reads it: no Python reprs, thousands separated."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.6f}".rstrip("0").rstrip(".")
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dict):  # one "key: value" line each (row filters, tiers)
        return "\n".join(f"{k}: {cell(v)}" for k, v in value.items())
    return str(value)


def _render(renderable: Any) -> str:
    # at a terminal, its width; into a pipe or file, wide enough that rows do not fold
    width = shutil.get_terminal_size((240, 24)).columns if sys.stdout.isatty() else 240
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, highlight=False).print(renderable)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()).strip("\n")


def table(rows: Sequence[dict[str, Any]], columns: Columns = None, title: str | None = None) -> str:
    """Rows as the one table style of the CLI, headers and states in the person's language."""
    chosen = list(columns or [(key, key) for key in (rows[0] if rows else {})])
    if cli_language() == CHINESE:
        from service.cli_words import chinese_table  # the catalog loads on this path only

        rows, chosen, title = chinese_table(rows, chosen, title)
    shown = Table(
        box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False, show_edge=False
    )
    for _key, header in chosen:
        shown.add_column(header, overflow="fold")
    for row in rows:
        shown.add_row(*(Text(cell(row.get(key))) for key, _ in chosen))
    return _render(shown)


def record(data: dict[str, Any], title: str | None = None) -> str:
    """One record as a two-column table of field and value."""
    return table([{"field": k, "value": v} for k, v in data.items()], None, title)


def wants_progress(as_json: bool, stream: IO[str] | None = None) -> bool:
    """Bars only for a person watching: never under --json, never into a pipe or file."""
    target = stream if stream is not None else sys.stderr
    return not as_json and target.isatty()


def _no_step(_text: str, _completed: float | None = None) -> None:
    return None


@contextmanager
def progress(
    description: str, total: float | None, as_json: bool, stream: IO[str] | None = None
) -> Iterator[Callable[[str, float | None], None]]:
    """A bar on stderr while the block runs; yields `step(text, completed)` to move it
    (completed=None keeps the count and changes the text). Off when wants_progress is."""
    if not wants_progress(as_json, stream):
        yield _no_step
        return
    console = Console(file=stream if stream is not None else sys.stderr)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    task = bar.add_task(description, total=total)

    def step(text: str, completed: float | None = None) -> None:
        if completed is None:
            bar.update(task, description=text)
        else:
            bar.update(task, description=text, completed=completed)

    with bar:
        yield step
        bar.update(task, completed=total or 0)


def emit(data: Any, as_json: bool, human: Callable[[Any], str] | str | None = None) -> None:
    """One JSON document with --json; otherwise `human` (a formatter or text), or a table:
    a list of records as rows, one record as field and value."""
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, default=str))
    elif callable(human):
        typer.echo(human(data))
    elif human is not None:
        typer.echo(human)
    elif isinstance(data, list):
        typer.echo(table(data) if data else "nothing to list")
    elif isinstance(data, dict):
        typer.echo(record(data))
    else:
        typer.echo(str(data))


def emit_rows(
    rows: list[dict[str, Any]], as_json: bool, columns: Columns, empty: str = "nothing to list"
) -> None:
    """A list: one JSON array with --json, else a table of the named columns."""
    emit(rows, as_json, lambda found: table(found, columns) if found else empty)


def error_document(error: SluiceError) -> dict[str, Any]:
    """The --json shape of a refusal: `{"error": {...}}`, the hint worded for the CLI,
    English like the API's (`code` is the error's kind; `message_code` the sentence's)."""
    body: dict[str, Any] = {
        "code": error.code,
        "message": error.message,
        "exit_code": error.exit_code,
    }
    hint = one_line(error)[len(error.message) + 2 :] if one_line(error) != error.message else ""
    if hint:
        body["suggestion"] = hint
    if error.reasons:
        body["reasons"] = [r.to_dict() for r in error.reasons]
    if error.message_code is not None:  # as the API's `code` and `figures`
        body["message_code"], body["figures"] = error.message_code, error.figures
    return {"error": body}


def refusal_lines(error: SluiceError, language: str | None = None) -> list[str]:
    """What a person reads on stderr: the refusal and what to type next, then one line
    per reason, in `language` (by default the one `cli_language` chooses)."""
    if (language or cli_language()) == CHINESE:
        from service.cli_words import chinese_refusal  # the catalog loads on this path only

        return chinese_refusal(error)
    return [f"sluice: {one_line(error)}", *(f"  - {reason}" for reason in error.reasons)]


def handles_errors(action: str) -> Callable[[F], F]:
    """Catch domain errors: one line on stderr in the person's language (or the error
    document under --json), the refusal in the audit log, non-zero exit."""

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except SluiceError as error:
                _record(action, error)
                if kwargs.get("as_json"):
                    document = error_document(error)
                    typer.echo(json.dumps(document, ensure_ascii=False, default=str))
                    raise typer.Exit(error.exit_code) from None
                for line in refusal_lines(error):
                    print(line, file=sys.stderr)
                raise typer.Exit(error.exit_code) from None

        return run  # type: ignore[return-value]

    return wrap


def _record(action: str, error: SluiceError) -> None:
    from audit_log import Actor
    from service.domain import open_domain
    from service.settings import Settings

    try:
        open_domain(Settings()).record_refusal(Actor("host-admin", "admin"), action, error)
    except SluiceError:
        pass  # no domain yet (e.g. before `sluice init`): nothing to record into
