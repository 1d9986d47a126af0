"""The REST API app (under /api/v1): routers from `service.routes`, errors as problems.

Every error becomes RFC 9457 problem details in `service.problems` and nowhere else;
domain refusals are recorded in the audit log; request bodies are capped in size
before anything parses them. Operation ids are the route functions' names, stable
across releases; /docs and /redoc are served from packaged assets.
"""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute

from audit_log import Actor
from core.errors import SluiceError
from service.apidocs import mount_api_docs
from service.domain import open_domain
from service.problems import error_body, install_problem_handlers, refusals, too_large
from service.routes import audit, catalog, jobs, licenses, products, review
from service.schemas.common import HealthOut
from service.settings import Settings
from service.web import mount_console

__all__ = ["create_app", "error_body", "operation_id"]


def operation_id(route: APIRoute) -> str:
    """An explicit `operation_id=` wins; otherwise the function's name (never the path)."""
    return route.operation_id or route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    domain = open_domain(settings or Settings())
    app = FastAPI(
        title="Sluice",
        version="0.1.0",
        description="数据可用不可见 — usable, not visible. Conventions: docs/api.md.",
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    app.state.domain = domain
    for module in (jobs, catalog, audit, licenses, products, review):
        app.include_router(module.router, responses=refusals())

    @app.middleware("http")
    async def cap_body(request: Request, call_next: Callable[..., Any]) -> Any:
        length = request.headers.get("content-length")
        if length and (not length.isdigit() or int(length) > domain.settings.max_request_bytes):
            return too_large(request.url.path)
        return await call_next(request)

    def record(request: Request, error: SluiceError) -> None:
        who = getattr(request.state, "principal", None)
        actor = who.actor if who else Actor("anonymous", "public")
        domain.record_refusal(actor, f"{request.method} {request.url.path}", error)

    install_problem_handlers(app, record)
    mount_api_docs(app)
    mount_console(app)

    @app.get("/healthz", operation_id="health")
    def healthz() -> HealthOut:
        return HealthOut(status="ok")

    return app
