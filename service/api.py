"""The REST API app (under /api/v1): routers from `service.routes`, one error handler.

Domain errors become a 4xx JSON body here and nowhere else, and are recorded in
the audit log; request bodies are capped in size before anything parses them. What
to do next is worded for an API client: a route or a field, never a CLI command.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from audit_log import Actor, HeadTicker
from core.errors import SluiceError, Step
from service.deps import Unauthorized
from service.domain import open_domain
from service.routes import audit, catalog, jobs, licenses, products, review
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
    for module in (jobs, catalog, audit, licenses, products, review):
        app.include_router(module.router, responses=refusals())

    @app.middleware("http")
    async def cap_body(request: Request, call_next: Callable[..., Any]) -> Any:
        length = request.headers.get("content-length")
        if length and (not length.isdigit() or int(length) > domain.settings.max_request_bytes):
            return JSONResponse({"error": "too_large", "message": "request body too large"}, 413)
        return await call_next(request)

    @app.exception_handler(SluiceError)
    async def domain_error(request: Request, error: SluiceError) -> JSONResponse:
        who = getattr(request.state, "principal", None)
        actor = who.actor if who else Actor("anonymous", "public")
        domain.record_refusal(actor, f"{request.method} {request.url.path}", error)
        return JSONResponse(error_body(error).model_dump(), status_code=error.http_status)

    @app.exception_handler(Unauthorized)
    async def unauthorized(_request: Request, _error: Unauthorized) -> JSONResponse:
        body = {"error": "unauthorized", "message": "send Authorization: Bearer TOKEN"}
        return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    mount_console(app)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
