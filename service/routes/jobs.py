"""Jobs: operators submit and follow their own; reviewers and the authority see all."""

from typing import Any

from fastapi import APIRouter, BackgroundTasks
from pydantic import BaseModel, Field

from products.release import release_of
from sandbox.jobs import get_job, list_jobs, run, submit_sql
from service.deps import DomainDep, OperatorDep, SessionDep, StaffOrOperatorDep, company_scope

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


class JobRequest(BaseModel):
    license_id: int = Field(gt=0)
    sql: str = Field(min_length=1, max_length=100_000)


@router.post("", status_code=201)
def post_job(
    body: JobRequest, who: OperatorDep, domain: DomainDep, background: BackgroundTasks
) -> dict[str, Any]:
    settings = domain.settings.job_settings()
    with domain.transaction() as s:  # committed before the run is scheduled
        created = submit_sql(s, body.license_id, who, body.sql, settings).to_dict(for_operator=True)
    if created["status"] == "queued":
        background.add_task(run, domain.sessions, domain.home, created["id"], settings)
    return created


@router.get("")
def get_jobs(who: StaffOrOperatorDep, s: SessionDep) -> list[dict[str, Any]]:
    operator = who.role == "operator"
    return [j.to_dict(for_operator=operator) for j in list_jobs(s, company_scope(who))]


@router.get("/{job_id}")
def get_one_job(job_id: int, who: StaffOrOperatorDep, s: SessionDep) -> dict[str, Any]:
    job = get_job(s, job_id, company_scope(who))
    release = release_of(s, job_id)
    return job.to_dict(release.files if release else [], for_operator=who.role == "operator")
