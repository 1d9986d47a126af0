"""The REST API (under /api/v1): thin routes over the same domain functions as the CLI.

Authentication and roles are dependencies; domain errors become a 4xx JSON body
in one handler; request bodies are capped in size before they are parsed.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime,
# and some name aliases local to create_app.

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import Actor, AuditEntry
from core.errors import (
    BudgetExhausted,
    Conflict,
    InvalidInput,
    LicenseInvalid,
    NotFound,
    PermissionDenied,
    PolicyDenied,
    SluiceError,
)
from operators.accounts import Principal, authenticate
from operators.licenses import list_licenses
from products.listing import get_product, list_products
from products.release import release_of
from sandbox.jobs import get_job, list_jobs, run, submit_sql
from service.domain import open_domain
from service.settings import Settings

STATUS: dict[type[SluiceError], int] = {
    InvalidInput: 422, NotFound: 404, Conflict: 409, PermissionDenied: 403,
    LicenseInvalid: 403, PolicyDenied: 403, BudgetExhausted: 402,
}  # fmt: skip
bearer = HTTPBearer(auto_error=False)


class JobRequest(BaseModel):
    license_id: int = Field(gt=0)
    sql: str = Field(min_length=1, max_length=100_000)


def _status(error: SluiceError) -> int:
    return next((STATUS[k] for k in type(error).__mro__ if k in STATUS), 400)


def create_app(settings: Settings | None = None) -> FastAPI:
    domain = open_domain(settings or Settings())
    app = FastAPI(
        title="Sluice", version="0.1.0", description="数据可用不可见 — usable, not visible."
    )
    app.state.domain = domain

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
        return JSONResponse(error.to_dict(), status_code=_status(error))

    def session() -> Iterator[Session]:
        with domain.transaction() as s:
            yield s

    def principal(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        if credentials is None:
            raise _Unauthorized()
        try:
            with domain.transaction() as s:
                who = Principal.of(authenticate(s, credentials.credentials))
        except PermissionDenied:
            raise _Unauthorized() from None
        request.state.principal = who
        return who

    def require_role(*roles: str) -> Callable[..., Principal]:
        def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
            if who.role not in roles and who.role != "admin":
                raise PermissionDenied(
                    f"this needs the role {' or '.join(roles)}; you are {who.role}"
                )
            return who

        return check

    @app.exception_handler(PermissionError)
    async def unauthorized(_request: Request, _error: PermissionError) -> JSONResponse:
        return JSONResponse(
            {"error": "unauthorized", "message": "send Authorization: Bearer TOKEN"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    Sess = Annotated[Session, Depends(session)]
    Operator = Annotated[Principal, Depends(require_role("operator"))]

    @app.post("/api/v1/jobs", status_code=201)
    def post_job(body: JobRequest, who: Operator, background: BackgroundTasks) -> dict[str, Any]:
        settings = domain.settings.job_settings()
        with domain.transaction() as s:  # committed before the run is scheduled
            job = submit_sql(s, body.license_id, who, body.sql, settings)
            created = job.to_dict(for_operator=True)
        if created["status"] == "queued":
            background.add_task(run, domain.sessions, domain.home, created["id"], settings)
        return created

    @app.get("/api/v1/jobs")
    def get_jobs(
        who: Annotated[Principal, Depends(require_role("operator", "reviewer", "authority"))],
        s: Sess,
    ) -> list[dict[str, Any]]:
        operator = who.role == "operator"
        return [j.to_dict(for_operator=operator) for j in list_jobs(s, _scope(who))]

    @app.get("/api/v1/jobs/{job_id}")
    def get_one_job(
        job_id: int,
        who: Annotated[Principal, Depends(require_role("operator", "reviewer", "authority"))],
        s: Sess,
    ) -> dict[str, Any]:
        job = get_job(s, job_id, _scope(who))
        release = release_of(s, job_id)
        return job.to_dict(release.files if release else [], for_operator=who.role == "operator")

    @app.get("/api/v1/licenses")
    def get_licenses(
        who: Annotated[Principal, Depends(require_role("operator", "authority", "regulator"))],
        s: Sess,
    ) -> list[dict[str, Any]]:
        return [lic.to_dict(name) for lic, name in list_licenses(s, _scope(who))]

    @app.get("/api/v1/products")
    def products(s: Sess) -> list[dict[str, Any]]:
        return [p.to_dict() for p in list_products(s)]

    @app.get("/api/v1/products/{product_id}")
    def product(product_id: int, s: Sess) -> dict[str, Any]:
        return get_product(s, product_id).to_dict()

    @app.get("/api/v1/audit/entries")
    def audit_entries(
        _who: Annotated[Principal, Depends(require_role("regulator"))],
        s: Sess,
        after: int = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        action: str | None = None,
    ) -> list[dict[str, Any]]:
        query = select(AuditEntry).where(AuditEntry.seq > after)
        if action:
            query = query.where(AuditEntry.action == action)
        return [e.to_dict() for e in s.scalars(query.order_by(AuditEntry.seq).limit(limit))]

    return app


class _Unauthorized(PermissionError):
    """No or bad bearer token: 401, distinct from a known user lacking a role (403)."""


def _scope(who: Principal) -> int | None:
    """Operators see only their own company's records; domain staff see all."""
    return who.operator_id if who.role == "operator" else None
