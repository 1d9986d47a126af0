"""Every API error as RFC 9457 problem details (`application/problem+json`), shaped here
and nowhere else: domain errors, request validation, 401, 404/405, 413 and the unexpected.

A problem carries the RFC's members (type, title, status, detail, instance) and Sluice's
extensions: `error` (the code), `code` and `figures` (the sentence's code and the facts
`detail` was made from, when it has them), `suggestion` (worded for an API client: a
route or a field, never a CLI command), `reasons` (rule, column, level) and, for
validation, `errors` (where and what, never the submitted value). The OpenAPI document
says the same.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from core.errors import InvalidInput, SluiceError, Step
from service.deps import Unauthorized
from service.schemas.common import FieldErrorOut, ProblemOut

__all__ = [
    "MEDIA_TYPE",
    "ROUTES",
    "error_body",
    "install_problem_handlers",
    "problem",
    "problem_response",
    "refusals",
    "too_large",
]

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:sluice:problem:"
log = logging.getLogger("sluice.api")

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
    Step.VERIFY_LOG: "verify it in full with POST /api/v1/audit/verifications",
    Step.EXPORT_PUBLIC_KEY: "fetch it from GET /api/v1/audit/pubkey",
}

# Problems that are not domain errors: code -> (status, title).
HTTP_PROBLEMS: dict[str, tuple[int, str]] = {
    "unauthorized": (401, "Unauthorized"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "too_large": (413, "Request body too large"),
    "invalid_input": (422, "Invalid input"),
    "internal_error": (500, "Internal error"),
}


def problem(
    error: str, status: int, detail: str, instance: str | None = None, **extensions: Any
) -> ProblemOut:
    """One problem document, `error` its kind's code; `None` extensions are left out."""
    title = HTTP_PROBLEMS.get(error, (status, error.replace("_", " ").capitalize()))[1]
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + error,
        "title": title,
        "status": status,
        "detail": detail,
        "error": error,
    }
    if instance is not None:
        body["instance"] = instance
    body.update({k: v for k, v in extensions.items() if v is not None})
    return ProblemOut.model_validate(body)


def problem_response(body: ProblemOut, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        body.model_dump(mode="json"), body.status, headers=headers, media_type=MEDIA_TYPE
    )


def error_body(error: SluiceError, instance: str | None = None) -> ProblemOut:
    """A domain error as a problem, with what to do next worded for an API client."""
    suggestion = error.suggestion
    if error.step is not None and error.step in ROUTES:
        suggestion = ROUTES[error.step].format(suggestion=error.suggestion or "")
    reasons = [r.to_dict() for r in error.reasons] or None
    return problem(
        error.code,
        error.http_status,
        error.message,
        instance,
        suggestion=suggestion or None,
        reasons=reasons,
        code=error.message_code,
        figures=error.figures,
    )


def _field_errors(error: RequestValidationError) -> list[FieldErrorOut]:
    """Where and what: the input and its context are never echoed (they may be a secret)."""
    return [
        FieldErrorOut(
            loc=[str(part) for part in e.get("loc", ())],
            msg=str(e.get("msg", "")),
            type=str(e.get("type", "")),
        )
        for e in error.errors()
    ]


def _validation_detail(errors: list[FieldErrorOut]) -> str:
    where = "; ".join(f"{'.'.join(e.loc)}: {e.msg}" for e in errors[:5])
    return f"the request did not validate: {where}" if where else "the request did not validate"


def refusals() -> dict[int | str, dict[str, Any]]:
    """Every error a route may answer with, named by its codes (documented as problems)."""
    codes: dict[int, list[str]] = {}
    for code, (status, _title) in HTTP_PROBLEMS.items():
        if code not in ("not_found", "method_not_allowed"):
            codes.setdefault(status, []).append(code)
    kinds: list[type[SluiceError]] = [SluiceError]
    while kinds:
        kind = kinds.pop(0)
        kinds += kind.__subclasses__()
        if kind.code not in codes.get(kind.http_status, []):
            codes.setdefault(kind.http_status, []).append(kind.code)
    return {
        status: {"model": ProblemOut, "description": "refused: " + ", ".join(names)}
        for status, names in sorted(codes.items())
    }


def _as_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Every 4xx/5xx in the document is a problem, under its own media type."""
    ref = {"$ref": "#/components/schemas/ProblemOut"}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status[0] in "45":
                    response["content"] = {MEDIA_TYPE: {"schema": ref}}
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


Recorder = Callable[[Request, SluiceError], Awaitable[None]]
FailureRecorder = Callable[[Request, str, str], Awaitable[None]]


def install_problem_handlers(
    app: FastAPI, record: Recorder, record_failure: FailureRecorder
) -> None:
    """Register the handlers; `record` writes a refusal to the audit log, and
    `record_failure` an unexpected failure's incident id and exception type."""

    async def domain_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, SluiceError)
        await record(request, error)
        return problem_response(error_body(error, request.url.path))

    async def unauthorized(request: Request, _error: Exception) -> JSONResponse:
        body = problem(
            "unauthorized",
            401,
            "no valid bearer token was sent",
            request.url.path,
            suggestion="send Authorization: Bearer TOKEN",
        )
        return problem_response(body, {"WWW-Authenticate": "Bearer"})

    async def invalid(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        errors = _field_errors(error)
        detail = _validation_detail(errors)
        body = problem("invalid_input", 422, detail, request.url.path, errors=errors)
        await record(request, InvalidInput(detail))  # the values sent are never recorded
        return problem_response(body)

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        codes = {
            404: "not_found",
            405: "method_not_allowed",
            401: "unauthorized",
            413: "too_large",
        }
        code = codes.get(error.status_code, f"http_{error.status_code}")
        detail = error.detail if isinstance(error.detail, str) else str(error.detail)
        if error.status_code == 404 and detail == "Not Found":
            detail = f"nothing is at {request.url.path}"
        if error.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        if error.status_code == 413:  # the body cap, met while the body streamed in
            await record(request, InvalidInput(detail))
            suggestion = "send a smaller body: large inputs belong in the domain's data"
            body = problem(code, 413, detail, request.url.path, suggestion=suggestion)
        else:
            body = problem(code, error.status_code, detail, request.url.path)
        return problem_response(body, dict(error.headers or {}))

    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        """Not raised on purpose: a 500 with an incident id the audit log keeps, never a
        traceback or the exception's text (either may quote data or secrets)."""
        incident = uuid.uuid4().hex[:16]
        log.exception("unexpected error %s on %s %s", incident, request.method, request.url.path)
        try:
            await record_failure(request, incident, type(error).__name__)
        except Exception:  # noqa: BLE001  the database itself may be what failed
            log.exception("could not record incident %s", incident)
        detail = "the server failed unexpectedly; the failure is logged"
        body = problem("internal_error", 500, detail, request.url.path, incident=incident)
        return problem_response(body)

    handlers: dict[type[Exception], Callable[[Request, Exception], Awaitable[JSONResponse]]] = {
        SluiceError: domain_error,
        Unauthorized: unauthorized,
        RequestValidationError: invalid,
        HTTPException: http_error,
        Exception: unexpected,
    }
    for kind, handler in handlers.items():
        app.add_exception_handler(kind, handler)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            app.openapi_schema = _as_problems(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def too_large(path: str) -> JSONResponse:
    """The body cap's refusal, before anything parses the request."""
    return problem_response(problem("too_large", 413, "the request body is too large", path))
