"""The `sluice` command line: thin commands over the domain packages.

Each command opens the domain, calls one domain function inside a transaction,
and prints the result (one JSON document with --json).
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from service.commands import (
    audit,
    catalog,
    interfaces,
    jobs,
    licenses,
    people,
    products,
    releases,
    review,
    sandbox,
    worker,
)
from service.commands.common import Json
from service.domain import init_domain
from service.output import JsonUsageGroup, emit, handles_errors, progress
from service.settings import Settings

app = typer.Typer(
    cls=JsonUsageGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Sluice: 数据可用不可见.",
)
app.add_typer(catalog.catalog_app, name="catalog")
app.add_typer(people.operators_app, name="operators")
app.add_typer(people.users_app, name="users")
app.add_typer(people.tokens_app, name="tokens")
app.add_typer(licenses.licenses_app, name="licenses")
app.add_typer(licenses.policy_app, name="policy")
app.add_typer(jobs.jobs_app, name="jobs")
app.add_typer(review.review_app, name="review")
app.add_typer(review.outputs_app, name="outputs")
app.add_typer(releases.releases_app, name="releases")
app.add_typer(products.products_app, name="products")
app.add_typer(interfaces.interfaces_app, name="interfaces")
app.add_typer(interfaces.disclosure_app, name="disclosure")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(sandbox.sandbox_app, name="sandbox")
app.command("worker")(worker.worker)


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


@app.command()
@handles_errors("init")
def init(as_json: Json = False) -> None:
    """Create the domain home: database, keys, folders. Safe to run again."""
    d, created = init_domain(Settings())
    data = {
        "home": str(d.home.root),
        "created": created,
        "database": d.settings.url.split("://")[0],
    }
    emit(data, as_json, f"{'created' if created else 'already set up'}: {d.home.root}")


@app.command()
@handles_errors("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the REST API and the console."""
    import uvicorn

    from service.api import create_app

    uvicorn.run(create_app(Settings()), host=host, port=port)


@app.command()
@handles_errors("demo")
def demo(
    rows: Annotated[int, typer.Option(help="Synthetic enterprises to generate.")] = 100_000,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Delete an earlier demo's home and start again.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Run the whole path on synthetic data: ingest, license, three queries, review, release.

    An earlier demo's home is kept unless --fresh is given (or you say yes when asked)."""
    from service.demo import STEPS, holds_earlier_demo, run_demo

    settings = Settings()
    if not fresh and not as_json and sys.stdin.isatty() and holds_earlier_demo(settings):
        fresh = typer.confirm(
            f"{settings.domain_home.root} holds an earlier demo; delete it and start again?"
        )
    with progress("demo", STEPS, as_json) as step:
        result = run_demo(settings, rows, quiet=as_json, fresh=fresh, on_step=step)
    emit(result, as_json, "")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
