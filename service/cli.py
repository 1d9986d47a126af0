"""The `sluice` command line: thin commands over the domain packages.

Each command opens the domain, calls one domain function inside a transaction,
and prints the result (one JSON document with --json). Command groups load on
first use (`COMMANDS`): `sluice --help` imports none of the domain packages, and
`sluice jobs submit` imports only what jobs need.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer
from typer import _click as click  # typer vendors click: its groups are built on this one
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperCommand, TyperGroup

# name -> (module, attribute: a Typer app or a command function, the help shown in
# `sluice --help` before the module is imported; tests check it matches the module's).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "audit": ("service.commands.audit", "audit_app", "The audit log."),
    "catalog": ("service.commands.catalog", "catalog_app", "Datasets (资源目录)."),
    "demo": (
        "service.commands.setup",
        "demo",
        "Run the whole path on synthetic data: ingest, license, three queries, review, release.",
    ),
    "disclosure": (
        "service.commands.interfaces",
        "disclosure_app",
        "Annual disclosure (年度公开).",
    ),
    "init": (
        "service.commands.setup",
        "init",
        "Create the domain home: database, keys, folders. Safe to run again.",
    ),
    "interfaces": (
        "service.commands.interfaces",
        "interfaces_app",
        "Interface products (数据分析接口).",
    ),
    "jobs": ("service.commands.jobs", "jobs_app", "SQL and notebook jobs."),
    "licenses": ("service.commands.licenses", "licenses_app", "Licenses (授权)."),
    "operators": (
        "service.commands.people",
        "operators_app",
        "Operating companies (授权运营单位).",
    ),
    "outputs": ("service.commands.review", "outputs_app", "Output checks and disclosure rules."),
    "policy": ("service.commands.licenses", "policy_app", "The policy engine."),
    "products": ("service.commands.products", "products_app", "Data products (数据产品)."),
    "releases": ("service.commands.releases", "releases_app", "Release packages (出域数据包)."),
    "review": ("service.commands.review", "review_app", "Output review (出域审核)."),
    "sandbox": ("service.commands.sandbox", "sandbox_app", "Sandbox backends, image and limits."),
    "serve": ("service.commands.setup", "serve", "Serve the REST API and the console."),
    "tokens": ("service.commands.people", "tokens_app", "API tokens."),
    "users": ("service.commands.people", "users_app", "Users and roles."),
    "worker": (
        "service.commands.worker",
        "worker",
        "Run queued jobs: DuckDB ones in this host's sandbox, Spark ones on SLUICE_SPARK_MASTER.",
    ),
}


def load_command(name: str) -> click.Command:
    """Import one command (group) and build its click command."""
    module, attribute, _ = COMMANDS[name]
    target: Any = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):  # a group, even of one command (`policy check`)
        command: click.Command = typer.main.get_group(target)
    else:  # a lone command function
        single = typer.Typer()
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


WANTS_JSON = "sluice.wants_json"


@contextmanager
def usage_errors_as_json(wanted: bool) -> Iterator[None]:
    """Under --json, a usage error (unknown option, missing argument, bad choice) becomes
    the same error document as a refusal, with Click's exit code; otherwise Click's text.
    The error document's module is imported only on that path, to keep `--help` fast."""
    try:
        yield
    except UsageError as error:
        if not wanted or isinstance(error, NoArgsIsHelpError):
            raise
        from core.errors import InvalidInput
        from service.output import error_document

        command = error.ctx.command_path if error.ctx is not None else "sluice"
        refused = InvalidInput(error.format_message(), suggestion=f"see `{command} --help`")
        typer.echo(json.dumps(error_document(refused), ensure_ascii=False))
        raise typer.Exit(error.exit_code) from None


class LazyGroup(TyperGroup):
    """The root group: lists every command from `COMMANDS` and imports one only when
    it runs (or its own help is asked for)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A loaded command, or a placeholder that carries only its help (for listings)."""
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        return TyperCommand(cmd_name, help=COMMANDS[cmd_name][2])

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] in COMMANDS:
            self.load(args[0])
        return super().resolve_command(ctx, args)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Plain text, not rich's panels: rendering them costs more than the rest of
        `sluice --help` together (each group's own help keeps them)."""
        mode, self.rich_markup_mode = self.rich_markup_mode, None
        try:
            super().format_help(ctx, formatter)
        finally:
            self.rich_markup_mode = mode

    def make_context(self, info_name: Any, args: Any, parent: Any = None, **extra: Any) -> Any:
        wanted = "--json" in args
        with usage_errors_as_json(wanted):
            ctx = super().make_context(info_name, args, parent, **extra)
        ctx.meta[WANTS_JSON] = wanted
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        with usage_errors_as_json(bool(ctx.meta.get(WANTS_JSON))):
            return super().invoke(ctx)

    def load(self, name: str) -> click.Command:
        if name not in self.commands:
            self.commands[name] = load_command(name)
        return self.commands[name]


app = typer.Typer(
    cls=LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Sluice: 数据可用不可见.",
)


def sluice_version() -> str:
    try:
        return version("sluice")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def show_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"sluice {sluice_version()}")
        raise typer.Exit()


@app.callback()
def main_options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=show_version,
            is_eager=True,
            help="Print Sluice's version and exit.",
        ),
    ] = False,
) -> None:
    """Sluice: 数据可用不可见 (usable, not visible)."""


def full_command() -> LazyGroup:
    """The root group with every command loaded (for tests that walk the whole tree)."""
    root = typer.main.get_command(app)
    assert isinstance(root, LazyGroup)
    for name in COMMANDS:
        root.load(name)
    return root


def main() -> None:
    app()


if __name__ == "__main__":
    main()
