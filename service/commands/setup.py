"""`sluice init`, `sluice serve` and `sluice demo`: set up a domain home, serve it, try it."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from service.commands.common import Json
from service.output import emit, handles_errors, progress


@handles_errors("init")
def init(as_json: Json = False) -> None:
    """Create the domain home: database, keys, folders. Safe to run again."""
    from service.domain import init_domain
    from service.settings import Settings

    d, created = init_domain(Settings())
    data = {
        "home": str(d.home.root),
        "created": created,
        "database": d.settings.url.split("://")[0],
    }
    emit(data, as_json, f"{'created' if created else 'already set up'}: {d.home.root}")


@handles_errors("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the REST API and the console."""
    import uvicorn

    from service.api import create_app
    from service.settings import Settings

    uvicorn.run(create_app(Settings()), host=host, port=port)


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
    from service.settings import Settings

    settings = Settings()
    if not fresh and not as_json and sys.stdin.isatty() and holds_earlier_demo(settings):
        fresh = typer.confirm(
            f"{settings.domain_home.root} holds an earlier demo; delete it and start again?"
        )
    with progress("demo", STEPS, as_json) as step:
        result = run_demo(settings, rows, quiet=as_json, fresh=fresh, on_step=step)
    emit(result, as_json, "")
