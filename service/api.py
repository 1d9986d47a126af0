"""The REST API app (under /api/v1): routers from `service.routes`, one error handler.

Domain errors become a 4xx JSON body here and nowhere else, and are recorded in
the audit log; request bodies are capped in size before anything parses them. What
to do next is worded for an API client: a route or a field, never a CLI command.
"""

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audit_log import Actor, HeadTicker
from core.errors import InvalidInput, SluiceError, Step
from service.deps import Unauthorized
from service.domain import open_domain
from service.routes import audit, catalog, interfaces, jobs, licenses, products, review
from service.schemas.common import ErrorOut
from service.settings import Settings
from service.web import mount_console

# Steps an API client takes differently from a person at the CLI; the rest keep the
# domain's words. `{suggestion}` stands for those words.
ROUTES: dict[Step, str] = {
    Step.LIST_LICENSES: "see GET /api/v1/licenses",
    Step.LICENSE_END_DATE: "give a later valid_until",
    Step.LICENSE_BUDGET: "give a positive epsilon",
    Step.LICENSE_DATASETS: "name at least one in datasets",
    Step.ROW_FILTER_DATASETS: "{suggestion}: each key of row_filters must be in datasets",
    Step.LIST_JOBS: "see GET /api/v1/jobs",
    Step.SHOW_JOB: "a job's release_id is in GET /api/v1/jobs/{{job_id}}",
    Step.GIVE_REASON: "{suggestion} in the body's reason",
    Step.APPROVE_AS_EXCEPTION: "approve them with exception: true and a written reason, or deny",
    Step.SHOW_FINDINGS: "see GET /api/v1/review/jobs/{{job_id}} for the findings",
    Step.LIST_PRODUCTS: "see GET /api/v1/products",
    Step.VERIFY_LOG: "see GET /api/v1/audit/verify",
    Step.EXPORT_PUBLIC_KEY: "fetch it from GET /api/v1/audit/pubkey",
}


SMALLER = "send a smaller body: large inputs belong in the domain's own data, not a request"


def _actor(request: Request) -> Actor:
    who = getattr(request.state, "principal", None)
    return who.actor if who else Actor("anonymous", "public")


def _what(request: Request) -> str:
    return f"{request.method} {request.url.path}"[:200]


def error_body(error: SluiceError) -> ErrorOut:
    """The error as JSON, with what to do next worded for an API client."""
    body = error.to_dict()
    if error.step is not None and error.step in ROUTES:
        body["suggestion"] = ROUTES[error.step].format(suggestion=error.suggestion or "")
    return ErrorOut.model_validate(body)


def refusals() -> dict[int | str, dict[str, Any]]:
    """Every 4xx a route may answer with the shared error body, named by its codes.
    (422 stays FastAPI's own, since request validation answers it in its own shape.)"""
    codes: dict[int, list[str]] = {401: ["unauthorized"], 413: ["too_large"]}
    kinds: list[type[SluiceError]] = [SluiceError]
    while kinds:
        kind = kinds.pop(0)
        kinds += kind.__subclasses__()
        if kind.http_status != 422:
            codes.setdefault(kind.http_status, []).append(kind.code)
    return {
        status: {"model": ErrorOut, "description": "refused: " + ", ".join(names)}
        for status, names in sorted(codes.items())
    }


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
        try:
            yield
        finally:
            ticker.stop()

    app = FastAPI(
        title="Sluice",
        version="0.1.0",
        description="数据可用不可见 — usable, not visible.",
        lifespan=lifespan,
    )
    app.state.domain = domain
    for module in (jobs, catalog, audit, licenses, products, review, interfaces):
        app.include_router(module.router, responses=refusals())

    app.add_middleware(cap_request_body, limit=lambda: domain.settings.max_request_bytes)

    @app.exception_handler(SluiceError)
    async def domain_error(request: Request, error: SluiceError) -> JSONResponse:
        await run_in_threadpool(domain.record_refusal, _actor(request), _what(request), error)
        return JSONResponse(error_body(error).model_dump(), status_code=error.http_status)

    @app.exception_handler(RequestTooLarge)
    async def too_large(request: Request, error: RequestTooLarge) -> JSONResponse:
        refused = InvalidInput(str(error.detail))
        await run_in_threadpool(domain.record_refusal, _actor(request), _what(request), refused)
        body = ErrorOut(error="too_large", message=str(error.detail), suggestion=SMALLER)
        return JSONResponse(body.model_dump(exclude_none=True), status_code=413)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI's own shape, without the submitted values: never echo a body back
        shown = [{k: v for k, v in e.items() if k not in ("input", "url")} for e in error.errors()]
        refused = InvalidInput(f"the request does not match its schema ({len(shown)} errors)")
        await run_in_threadpool(domain.record_refusal, _actor(request), _what(request), refused)
        return JSONResponse({"detail": jsonable_encoder(shown)}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        """Anything not raised on purpose: a 500 with an incident id the log keeps, never
        a traceback or the exception's text (either may quote data or secrets)."""
        incident = uuid.uuid4().hex[:16]
        try:
            kind = type(error).__name__
            await run_in_threadpool(
                domain.record_failure, _actor(request), _what(request), incident, kind
            )
        except Exception:  # noqa: BLE001  the database itself may be what failed
            pass
        message = "an unexpected error stopped this request; it was recorded"
        body = ErrorOut(error="internal", message=message, incident=incident)
        return JSONResponse(body.model_dump(exclude_none=True), status_code=500)

    @app.exception_handler(Unauthorized)
    async def unauthorized(_request: Request, _error: Unauthorized) -> JSONResponse:
        body = {"error": "unauthorized", "message": "send Authorization: Bearer TOKEN"}
        return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    mount_console(app)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
