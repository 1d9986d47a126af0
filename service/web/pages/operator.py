"""The operator's pages: check and submit SQL (rewritten SQL and reasons beside it),
upload a notebook, follow a job live, download releases and synthetic twins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Path, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, StreamingResponse

from catalog.twin_rows import DEFAULT_ROWS
from core.errors import InvalidInput, SluiceError
from jobs.queries import list_jobs
from operators.accounts import Principal
from operators.licenses import list_licenses
from products.release import release_of
from service.deps import company_scope
from service.routes.catalog import DatasetName, downloaded_twin, twin_response
from service.routes.jobs import (
    PROGRESS,
    SETTLED,
    JobSubmission,
    dry_run,
    follow,
    job_view,
    package_response,
    submit_notebook,
    submit_sql_job,
)
from service.web.i18n import translator
from service.web.pages.catalog import catalog_view
from service.web.pages.results import results_view
from service.web.session import FormDep, checked_form, domain_of, language, need, render

router = APIRouter()
Operator = Annotated[Principal, Depends(need("operator"))]
Follower = Annotated[Principal, Depends(need("operator", "reviewer", "authority"))]
# regulators read every job (not its released data: no package, no preview)
Reader = Annotated[Principal, Depends(need("operator", "reviewer", "authority", "regulator"))]
TwinTaker = Annotated[Principal, Depends(need("operator", "authority"))]
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
EXAMPLE_SQL = (
    "SELECT district, COUNT(*) AS n, AVG(capital) AS avg_capital\n"
    "FROM enterprise_utilities\nGROUP BY district"
)


# A mistyped number field's refusals, by field: one code each, worded by the console.
_NOT_WHOLE: dict[str, Callable[[Any], InvalidInput]] = {
    "release": lambda value: InvalidInput.coded("page_release_not_whole", value=value),
    "quantity": lambda value: InvalidInput.coded("page_quantity_not_whole", value=value),
    "license": lambda value: InvalidInput.coded("page_license_not_whole", value=value),
}
_OUT_OF_RANGE: dict[str, Callable[[], InvalidInput]] = {
    "release": lambda: InvalidInput.coded("page_release_out_of_range"),
    "quantity": lambda: InvalidInput.coded("page_quantity_out_of_range"),
    "license": lambda: InvalidInput.coded("page_license_out_of_range"),
}


def whole_number(value: Any, field: str) -> int:
    """The id or count typed into `field` (a key of `_NOT_WHOLE`)."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise _NOT_WHOLE[field](value) from None
    if not 1 <= number <= 2_147_483_647:
        raise _OUT_OF_RANGE[field]()
    return number


def job_request(license_id: int, sql: str) -> JobSubmission:
    if not sql.strip() or len(sql) > 100_000:
        raise InvalidInput.coded("sql_form")
    return JobSubmission(license_id=license_id, sql=sql)


def _usable(request: Request, who: Principal) -> list[dict[str, Any]]:
    with domain_of(request).transaction() as s:
        rows = [lic.to_dict(name) for lic, name in list_licenses(s, company_scope(who))]
    return [r for r in rows if r["status"] == "active"]


def _new_job_page(
    request: Request,
    who: Principal,
    license_id: int | None,
    sql: str,
    decision: dict | None = None,
    problem: SluiceError | None = None,
) -> Any:
    with domain_of(request).transaction() as s:
        opened = [d for d in catalog_view(s, who) if d["licensed_level"]]
    return render(
        request,
        "operator_new_job.html",
        catalog=opened,
        licenses=_usable(request, who),
        license_id=license_id,
        sql=sql,
        decision=decision,
        problem=problem,
        status=problem.http_status if problem is not None else 200,
    )


@router.get("/console/jobs")
def jobs_page(request: Request, who: Operator) -> Any:
    with domain_of(request).transaction() as s:
        jobs = [j.to_dict(for_operator=True) for j in list_jobs(s, company_scope(who))]
        released = {j["id"]: release_of(s, j["id"]) for j in jobs if j["status"] == "released"}
    return render(
        request,
        "operator_jobs.html",
        jobs=list(reversed(jobs)),
        released={k: v.id for k, v in released.items() if v},
    )


@router.get("/console/jobs/new")
def new_job(request: Request, who: Operator, license_id: int | None = None) -> Any:
    return _new_job_page(request, who, license_id, EXAMPLE_SQL)


@router.post("/console/jobs/check")
def check_job(request: Request, who: Operator, form: FormDep) -> Any:
    """Ask the policy engine first: the rewritten SQL and every reason appear beside it."""
    sql = str(form.get("sql", ""))
    license_id = whole_number(form.get("license_id"), "license")
    domain = domain_of(request)
    try:
        body = job_request(license_id, sql)
        shown = dry_run(domain, who, body.license_id, sql).to_dict()
        return _new_job_page(request, who, license_id, sql, shown)
    except SluiceError as error:
        return _new_job_page(request, who, license_id, sql, problem=error)


@router.post("/console/jobs")
def submit_job(request: Request, who: Operator, form: FormDep, background: BackgroundTasks) -> Any:
    """Submit; a refusal shows the form again with the query kept and the reason beside it."""
    sql = str(form.get("sql", ""))
    license_id = whole_number(form.get("license_id"), "license")
    try:
        created = submit_sql_job(domain_of(request), who, job_request(license_id, sql), background)
    except SluiceError as error:
        return _new_job_page(request, who, license_id, sql, problem=error)
    return RedirectResponse(f"/console/jobs/{created['id']}", status_code=303)


@router.post("/console/notebook")
async def upload_notebook(
    request: Request,
    who: Operator,
    background: BackgroundTasks,
    license_id: Annotated[int, Form(ge=1, le=2_147_483_647)],
    notebook: Annotated[UploadFile, File()],
) -> Any:
    await checked_form(request)
    data = await notebook.read(1_000_001)
    created = await run_in_threadpool(
        submit_notebook, domain_of(request), who, license_id, data, background
    )
    return RedirectResponse(f"/console/jobs/{created['id']}", status_code=303)


@router.get("/console/jobs/{job_id}")
def job_page(request: Request, job_id: Id, who: Reader) -> Any:
    with domain_of(request).transaction() as s:
        job = job_view(s, job_id, who)
        sees_data = job.get("release_id") and who.role != "regulator"
        results = results_view(s, request, job_id, who) if sees_data else []
    t = translator(language(request))
    return render(
        request,
        "operator_job.html",
        job=job,
        settled=job["status"] in SETTLED,
        results=results,
        labels={status: t(status) for status in PROGRESS},
    )


@router.get("/console/jobs/{job_id}/events")
def job_events(request: Request, job_id: Id, who: Reader) -> StreamingResponse:
    domain = domain_of(request)
    with domain.transaction() as s:
        job_view(s, job_id, who)  # not found before the stream starts
    return StreamingResponse(follow(domain, job_id, who), media_type="text/event-stream")


@router.get("/console/jobs/{job_id}/package")
def job_package(request: Request, job_id: Id, who: Follower) -> Any:
    domain = domain_of(request)
    with domain.transaction() as s:
        return package_response(s, domain, job_id, who)


@router.get("/console/datasets/{name}/twin")
def dataset_twin(request: Request, name: DatasetName, who: TwinTaker) -> Any:
    """A licensed dataset's synthetic twin (default size and seed) as a zip."""
    with domain_of(request).transaction() as s:
        return twin_response(downloaded_twin(s, name, who, DEFAULT_ROWS, 0))
