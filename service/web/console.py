"""Mounting the console on the app: its page routers, static files, and the handler
that shows a domain error as a page on console paths (the API keeps its JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from core.errors import SluiceError
from service.web.pages import (
    account,
    admin,
    authority,
    catalog,
    ingest,
    market,
    operator,
    products,
    regulator,
    results,
    review,
)
from service.web.session import LoginRequired, render

__all__ = ["mount_console"]

CONSOLE_PREFIXES = ("/console", "/market", "/login", "/logout", "/lang")


def mount_console(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    for module in (
        account,
        admin,
        ingest,
        catalog,
        operator,
        results,
        products,
        review,
        authority,
        regulator,
        market,
    ):
        app.include_router(module.router, include_in_schema=False)
    api_handler = app.exception_handlers.get(SluiceError)

    async def page_error(request: Request, error: Exception) -> Any:
        """Console pages show a domain error as a page; the API keeps its JSON handler."""
        if api_handler is not None:
            api_response = await api_handler(request, error)  # type: ignore[misc]
            assert isinstance(api_response, Response)
            if not request.url.path.startswith(CONSOLE_PREFIXES):
                return api_response
            status = api_response.status_code
        else:
            status = 400
        assert isinstance(error, SluiceError)
        return render(request, "error.html", status=status, error=error)

    async def login_required(request: Request, error: Exception) -> Any:
        assert isinstance(error, LoginRequired)
        return RedirectResponse(f"/login?next={error.next_path}", status_code=303)

    app.add_exception_handler(SluiceError, page_error)
    app.add_exception_handler(LoginRequired, login_required)
