"""The REST API app (under /api/v1): routers from `service.routes`, one error handler.

Domain errors become a 4xx JSON body here and nowhere else, and are recorded in
the audit log; request bodies are capped in size before anything parses them.
"""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from audit_log import Actor
from core.errors import SluiceError
from service.deps import Unauthorized
from service.domain import open_domain
from service.routes import audit, catalog, jobs, licenses, products, review
from service.settings import Settings
from service.web import mount_console


def create_app(settings: Settings | None = None) -> FastAPI:
    domain = open_domain(settings or Settings())
    app = FastAPI(
        title="Sluice", version="0.1.0", description="数据可用不可见 — usable, not visible."
    )
    app.state.domain = domain
    for module in (jobs, catalog, audit, licenses, products, review):
        app.include_router(module.router)

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
        return JSONResponse(error.to_dict(), status_code=error.http_status)

    @app.exception_handler(Unauthorized)
    async def unauthorized(_request: Request, _error: Unauthorized) -> JSONResponse:
        body = {"error": "unauthorized", "message": "send Authorization: Bearer TOKEN"}
        return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    mount_console(app)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
