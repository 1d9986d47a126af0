"""The reviewer's pages (出域审核): the queue, one output with every check and its
figures (from `products.review_view`), and the approve / deny decision."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse

from core.errors import InvalidInput
from operators.accounts import Principal, get_user
from products.review import review
from products.review_view import queue_items, review_view
from service.web.session import FormDep, domain_of, need, render

router = APIRouter()
Reviewer = Annotated[Principal, Depends(need("reviewer", "authority"))]
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]


@router.get("/console/review")
def queue(request: Request, who: Reviewer, notice: str | None = None) -> Any:
    with domain_of(request).transaction() as s:
        items = queue_items(s, get_user(s, who.name) if who.role != "admin" else None)
    return render(request, "review_queue.html", jobs=items, notice=notice)


@router.get("/console/review/{job_id}")
def output(request: Request, job_id: Id, _who: Reviewer) -> Any:
    domain = domain_of(request)
    with domain.transaction() as s:
        view = review_view(s, domain.home, job_id)
    return render(request, "review_output.html", view=view, job=view["job"])


@router.post("/console/review/{job_id}")
def decide(request: Request, job_id: Id, who: Reviewer, form: FormDep) -> Any:
    decision = str(form.get("decision", ""))
    if decision not in ("approve", "deny"):
        raise InvalidInput("choose approve or deny")
    exception = decision == "approve" and form.get("exception") == "yes"
    domain = domain_of(request)
    with domain.transaction() as s:
        reviewer = get_user(s, who.name)
        reason = str(form.get("reason", ""))
        status = review(s, domain.home, job_id, reviewer, decision, reason, exception).status
    return RedirectResponse(f"/console/review?notice=job+{job_id}:+{status}", status_code=303)
