"""The REST API app (under /api/v1): routers from `service.routes`, errors as problems.

Every error becomes RFC 9457 problem details in `service.problems` and nowhere else;
domain refusals are recorded in the audit log; request bodies are capped in size
before anything parses them. Operation ids are the route functions' names, stable
across releases; /docs and /redoc are served from packaged assets.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audit_log import Actor, HeadTicker
from core.errors import SluiceError
from service.apidocs import mount_api_docs
from service.domain import open_domain
from service.problems import error_body, install_problem_handlers, refusals
from service.routes import audit, catalog, interfaces, jobs, licenses, products, review
from service.schemas.common import HealthOut
from service.settings import Settings
from service.web.console import mount_console

__all__ = ["create_app", "error_body", "operation_id"]


def _actor(request: Request) -> Actor:
    who = getattr(request.state, "principal", None)
    return who.actor if who else Actor("anonymous", "public")


def _what(request: Request) -> str:
    return f"{request.method} {request.url.path}"[:200]


def operation_id(route: APIRoute) -> str:
    """An explicit `operation_id=` wins; otherwise the function's name (never the path)."""
    return route.operation_id or route.name


class RequestTooLarge(HTTPException):
    """Raised while a request body is read, as soon as its bytes pass the cap; an
    HTTPException, so FastAPI's body parsing passes it on instead of answering 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


def cap_request_body(app: ASGIApp, limit: Callable[[], int]) -> ASGIApp:
    """Count a request's body bytes as they arrive (chunked bodies included) and stop
    reading past the cap; a declared Content-Length over it stops the first read."""

    async def capped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        cap = limit()
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        over = not declared.isdigit() or int(declared) > cap
        received = 0

        async def counted() -> Message:
            nonlocal received
            if over:  # refused before a byte of the body is read
                raise RequestTooLarge(cap)
            message = await receive()
            received += len(message.get("body", b""))
            if received > cap:
                raise RequestTooLarge(cap)
            return message

        await app(scope, counted, send)

    return capped


def create_app(settings: Settings | None = None) -> FastAPI:
    domain = open_domain(settings or Settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # signs a quiet log's tail within the interval (runs only under a real server)
        ticker = HeadTicker(domain.sessions, domain.settings.audit_head_seconds).start()
        # warm sandboxes for the jobs this process runs; they die with it
        _app.state.warm_pool = await run_in_threadpool(domain.settings.job_settings().warm_pool)
        try:
            yield
        finally:
            ticker.stop()
            if _app.state.warm_pool is not None:
                await run_in_threadpool(_app.state.warm_pool.close)

    app = FastAPI(
        title="Sluice",
        version="0.1.0",
        description="数据可用不可见 — usable, not visible. Conventions: docs/api.md.",
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
        lifespan=lifespan,
    )
    app.state.domain = domain
    for module in (jobs, catalog, audit, licenses, products, review, interfaces):
        app.include_router(module.router, responses=refusals())

    app.add_middleware(cap_request_body, limit=lambda: domain.settings.max_request_bytes)

    async def record(request: Request, error: SluiceError) -> None:
        await run_in_threadpool(domain.record_refusal, _actor(request), _what(request), error)

    async def record_failure(request: Request, incident: str, kind: str) -> None:
        await run_in_threadpool(
            domain.record_failure, _actor(request), _what(request), incident, kind
        )

    install_problem_handlers(app, record, record_failure)
    mount_api_docs(app)
    mount_console(app)

    @app.get("/healthz", operation_id="health")
    def healthz() -> HealthOut:
        return HealthOut(status="ok")

    return app
