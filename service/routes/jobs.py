"""Jobs: operators check a query, submit SQL or a notebook and follow their own jobs
(live, as server-sent events); reviewers and the authority see all."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, File, Form, Path, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from jobs.queries import get_job, list_jobs
from jobs.runner import run
from jobs.submit import PlannedQuery, decide, plan_query, policy_inputs, submit
from operators.accounts import Principal
from policies.engine import PolicyDecision
from products.release import release_of
from service.deps import (
    DomainDep,
    JobReaderDep,
    OperatorDep,
    SessionDep,
    StaffOrOperatorDep,
    company_scope,
)
from service.domain import Domain
from service.pagination import Cursor, Page, PageLimit, paginate
from service.routes.licenses import scoped_license
from service.routes.media import EventStream, ZipFile
from service.schemas.jobs import JobOut, JobView, PolicyDecisionOut

router = APIRouter(prefix="/api/v1", tags=["jobs"])
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
MAX_NOTEBOOK_BYTES = 1_000_000
# How far along a job is, for a progress bar; the states that end a live follow.
PROGRESS = {
    "queued": 10,
    "running": 40,
    "awaiting_review": 75,
    "released": 100,
    "denied": 100,
    "failed": 100,
    "blocked": 100,
    "rejected": 100,
}
SETTLED = ("denied", "failed", "blocked", "awaiting_review", "released", "rejected")
FOLLOW_POLLS = 1200  # half-second polls: a live follow ends after ten minutes at most


class JobRequest(BaseModel):
    license_id: int = Field(gt=0, le=2_147_483_647)
    sql: str = Field(min_length=1, max_length=100_000)


class JobSubmission(JobRequest):
    engine: str | None = Field(
        default=None,
        max_length=20,
        description="duckdb or spark; without it the licence's, then the dataset's default",
    )


def owned_license(session: Session, license_id: int, who: Principal) -> None:
    """Another company's license is not found (its existence is not revealed)."""
    scoped_license(session, license_id, who)


def planned_query(domain: Domain, who: Principal, license_id: int, sql: str) -> PlannedQuery:
    """The policy analysis of a query under the caller's licence, run with no transaction
    open (it may take the whole budget, and a held write lock would stop every writer)."""
    settings = domain.settings.job_settings()
    with domain.transaction() as s:
        owned_license(s, license_id, who)
        inputs = policy_inputs(s, license_id)
    return plan_query(inputs, sql, settings.epsilon_per_query, settings.query_budget)


def dry_run(domain: Domain, who: Principal, license_id: int, sql: str) -> PolicyDecision:
    """What the policy engine would do with a query (API and console)."""
    planned = planned_query(domain, who, license_id, sql)
    settings = domain.settings.job_settings()
    with domain.transaction() as s:
        epsilon, budget = settings.epsilon_per_query, settings.query_budget
        return decide(s, license_id, sql, epsilon, budget, planned)


def start_submitted(
    domain: Domain,
    who: Principal,
    license_id: int,
    background: BackgroundTasks,
    engine: str | None = None,
    **source: str,
) -> dict[str, Any]:
    """Record the job through `jobs.submit` (committed before its run is scheduled), then
    run it in the background; Spark jobs wait for a `sluice worker`, as from the CLI.
    A query is analysed before the transaction opens."""
    settings = domain.settings.job_settings()
    sql = source.get("sql")
    planned = planned_query(domain, who, license_id, sql) if sql is not None else None
    with domain.transaction() as s:
        job = submit(s, license_id, who, settings, planned=planned, engine=engine, **source)
        created, engine = job.to_dict(for_operator=True), job.engine
    if created["status"] == "queued" and engine != "spark":
        background.add_task(run, domain.sessions, domain.home, created["id"], settings)
    return created


def submit_sql_job(
    domain: Domain, who: Principal, body: JobSubmission, background: BackgroundTasks
) -> dict[str, Any]:
    return start_submitted(domain, who, body.license_id, background, body.engine, sql=body.sql)


def submit_notebook(
    domain: Domain, who: Principal, license_id: int, notebook: bytes, background: BackgroundTasks
) -> dict[str, Any]:
    if len(notebook) > MAX_NOTEBOOK_BYTES:
        raise InvalidInput.coded("job_notebook_too_large", limit=MAX_NOTEBOOK_BYTES)
    text = notebook.decode("utf-8", "replace")
    return start_submitted(domain, who, license_id, background, notebook=text)


def job_view(session: Session, job_id: int, who: Principal) -> dict[str, Any]:
    job = get_job(session, job_id, company_scope(who))
    release = release_of(session, job_id)
    shown = job.to_dict(release.files if release else [], for_operator=who.role == "operator")
    shown["progress"] = PROGRESS.get(job.status, 0)
    shown["release_id"] = release.id if release else None
    return shown


async def follow(domain: Domain, job_id: int, who: Principal) -> AsyncIterator[str]:
    """Server-sent events: one `status` event per change, until the job settles."""

    def snapshot() -> dict[str, Any]:
        with domain.transaction() as s:
            return job_view(s, job_id, who)

    last: tuple[str, Any] | None = None
    for _ in range(FOLLOW_POLLS):
        view = await run_in_threadpool(snapshot)
        key = (view["status"], view["finished_at"])
        if key != last:
            last = key
            yield f"event: status\ndata: {json.dumps(view, ensure_ascii=False)}\n\n"
        if view["status"] in SETTLED:
            yield "event: end\ndata: {}\n\n"
            return
        await asyncio.sleep(0.5)


def package_response(session: Session, domain: Domain, job_id: int, who: Principal) -> Any:
    job = get_job(session, job_id, company_scope(who))
    release = release_of(session, job.id)
    if release is None:
        raise NotFound.coded("job_not_released", job_id=job_id, status=str(job.status))
    return FileResponse(
        domain.home.root / release.package_path,
        media_type="application/zip",
        filename=f"sluice-release-{release.id}.zip",
    )


@router.post("/policy/check")
def policy_check(body: JobRequest, who: OperatorDep, domain: DomainDep) -> PolicyDecisionOut:
    """What the policy engine would do with a query (allow, rewrite, deny), without running it."""
    decision = dry_run(domain, who, body.license_id, body.sql)
    return PolicyDecisionOut.model_validate(decision.to_dict())


SUBMITTED = (
    "Accepted: the job is recorded and its Location is set. Its `status` says what became "
    "of it: `queued` (it will run; follow it at Location), or `denied` by the policy "
    "engine, with `reasons`. A denied query is a recorded job, not an error (docs/api.md)."
)


def accepted(response: Response, created: dict[str, Any]) -> JobOut:
    """202 Accepted with the job's Location, whatever the policy decided (docs/api.md)."""
    response.headers["Location"] = f"/api/v1/jobs/{created['id']}"
    return JobOut.model_validate(created)


@router.post("/jobs", status_code=202, response_description=SUBMITTED)
def post_job(
    body: JobSubmission,
    who: OperatorDep,
    domain: DomainDep,
    background: BackgroundTasks,
    response: Response,
) -> JobOut:
    """Submit SQL under a licence; a denied query answers 202 with status `denied`."""
    return accepted(response, submit_sql_job(domain, who, body, background))


@router.post("/jobs/notebook", status_code=202, response_description=SUBMITTED)
async def post_notebook(
    license_id: Annotated[int, Form(gt=0, le=2_147_483_647)],
    notebook: Annotated[UploadFile, File(description="a Jupyter notebook (.ipynb)")],
    who: OperatorDep,
    domain: DomainDep,
    background: BackgroundTasks,
    response: Response,
) -> JobOut:
    """Submit a notebook under a licence; answered as `POST /jobs` is."""
    data = await notebook.read(MAX_NOTEBOOK_BYTES + 1)
    created = await run_in_threadpool(submit_notebook, domain, who, license_id, data, background)
    return accepted(response, created)


@router.get("/jobs")
def get_jobs(
    who: JobReaderDep, s: SessionDep, limit: PageLimit = 100, cursor: Cursor = None
) -> Page[JobOut]:
    operator = who.role == "operator"
    jobs = [
        JobOut.model_validate(j.to_dict(for_operator=operator))
        for j in list_jobs(s, company_scope(who))
    ]
    return paginate(jobs, lambda j: j.id, limit, cursor)


@router.get("/jobs/{job_id}")
def get_one_job(job_id: Id, who: JobReaderDep, s: SessionDep) -> JobView:
    return JobView.model_validate(job_view(s, job_id, who))


@router.get("/jobs/{job_id}/events", response_class=EventStream)
def job_events(job_id: Id, who: JobReaderDep, domain: DomainDep) -> Any:
    """Server-sent events while the job moves; no session stays open while streaming."""
    with domain.transaction() as s:
        get_job(s, job_id, company_scope(who))  # 404 before the stream starts
    return StreamingResponse(follow(domain, job_id, who), media_type="text/event-stream")


@router.get("/jobs/{job_id}/package", response_class=ZipFile)
def job_package(job_id: Id, who: StaffOrOperatorDep, s: SessionDep, domain: DomainDep) -> Any:
    """The signed release package of a released job (a zip with manifest and signature)."""
    return package_response(s, domain, job_id, who)
