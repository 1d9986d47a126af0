"""Review (出域审核) and releases: the authority's queue and decisions; operators fetch
their signed packages. Reviewers see every figure; operators never reach these views."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from core.errors import NotFound
from jobs.queries import get_job
from operators.accounts import Principal, get_user
from products.records import Release
from products.release import get_release, release_not_found, release_of
from products.review import review
from products.review_view import queue_items, review_view
from service.deps import DomainDep, SessionDep, company_scope, require_role
from service.pagination import Cursor, Page, PageLimit, paginate
from service.routes.media import ZipFile
from service.schemas.review import QueueItem, ReleaseRecord, ReviewedJob, ReviewView

router = APIRouter(prefix="/api/v1", tags=["review"])
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
Reviewer = Annotated[Principal, Depends(require_role("reviewer", "authority"))]
Receiver = Annotated[Principal, Depends(require_role("operator", "reviewer", "authority"))]
Reader = Annotated[
    Principal, Depends(require_role("operator", "reviewer", "authority", "regulator"))
]


class Approval(BaseModel):
    reason: str = Field(default="", max_length=4000)
    exception: bool = False


class Denial(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


@router.get("/review/queue")
def get_queue(
    who: Reviewer, s: SessionDep, limit: PageLimit = 100, cursor: Cursor = None
) -> Page[QueueItem]:
    """Outputs awaiting review that this reviewer may still decide on, oldest job first."""
    items = queue_items(s, get_user(s, who.name) if who.role != "admin" else None)
    shown = [QueueItem.model_validate(item) for item in items]
    return paginate(shown, lambda i: i.job, limit, cursor)


@router.get("/review/jobs/{job_id}")
def get_review_view(
    job_id: Id,
    _who: Reviewer,
    s: SessionDep,
    domain: DomainDep,
    page: Annotated[int, Query(ge=0, le=1_000_000, description="which page of each table")] = 0,
) -> ReviewView:
    return ReviewView.model_validate(review_view(s, domain.home, job_id, page))


def _decide(
    domain: DomainDep, who: Principal, job_id: int, decision: str, reason: str, exception: bool
) -> ReviewedJob:
    with domain.transaction() as s:
        job = review(s, domain.home, job_id, get_user(s, who.name), decision, reason, exception)
        release = release_of(s, job_id)
        return ReviewedJob.model_validate(
            {
                **job.to_dict(release.files if release else []),
                "release": release.to_dict() if release else None,
            }
        )


@router.post("/review/jobs/{job_id}/approve")
def post_approve(job_id: Id, body: Approval, who: Reviewer, domain: DomainDep) -> ReviewedJob:
    return _decide(domain, who, job_id, "approve", body.reason, body.exception)


@router.post("/review/jobs/{job_id}/deny")
def post_deny(job_id: Id, body: Denial, who: Reviewer, domain: DomainDep) -> ReviewedJob:
    return _decide(domain, who, job_id, "deny", body.reason, False)


def _visible_release(s: SessionDep, release_id: int, who: Principal) -> Release:
    """A release, if the caller's company received it (operators) or they are staff."""
    release = get_release(s, release_id)
    scope = company_scope(who)
    if scope is not None and get_job(s, release.job_id).operator_id != scope:
        raise release_not_found(release_id)
    return release


@router.get("/releases/{release_id}")
def get_release_record(release_id: Id, who: Reader, s: SessionDep) -> ReleaseRecord:
    release = _visible_release(s, release_id, who)
    return ReleaseRecord.model_validate({**release.to_dict(), "manifest": release.manifest})


@router.get("/releases/{release_id}/package", response_class=ZipFile)
def get_package(release_id: Id, who: Receiver, s: SessionDep, domain: DomainDep) -> FileResponse:
    """The signed package; check it offline with `sluice releases verify`."""
    release = _visible_release(s, release_id, who)
    path = domain.home.root / release.package_path
    if not path.is_file():
        raise NotFound.coded("svc_package_missing", release_id=release_id)
    return FileResponse(path, media_type="application/zip", filename=path.name)
