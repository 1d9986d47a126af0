"""The reviewer's pages (出域审核): the queue, one output with every check and its
figures (from `products.review_view`), and the approve / deny decision."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from core.errors import InvalidInput, NotFound
from operators.accounts import Principal, get_user
from products.review import review
from products.review_view import decision_history, queue_items, review_view
from service.web.notebook_html import NOTEBOOK_CSP, notebook_html
from service.web.session import FormDep, domain_of, need, render

router = APIRouter()
Reviewer = Annotated[Principal, Depends(need("reviewer", "authority"))]
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
Page = Annotated[int, Query(ge=0, le=1_000_000)]


@router.get("/console/review")
def queue(request: Request, who: Reviewer, notice: str | None = None) -> Any:
    with domain_of(request).transaction() as s:
        items = queue_items(s, get_user(s, who.name) if who.role != "admin" else None)
    return render(request, "review_queue.html", jobs=items, notice=notice)


@router.get("/console/review/history")
def history(request: Request, _who: Reviewer) -> Any:
    with domain_of(request).transaction() as s:
        decisions = decision_history(s)
    return render(request, "review_history.html", decisions=decisions)


@router.get("/console/review/{job_id}")
def output(request: Request, job_id: Id, _who: Reviewer, page: Page = 0) -> Any:
    domain = domain_of(request)
    with domain.transaction() as s:
        view = review_view(s, domain.home, job_id, page)
    return render(request, "review_output.html", view=view, job=view["job"], page=page)


@router.get("/console/review/{job_id}/notebook")
def notebook(request: Request, job_id: Id, _who: Reviewer) -> HTMLResponse:
    """The executed notebook, rendered; scripts, forms and fetches are all forbidden."""
    domain = domain_of(request)
    with domain.transaction() as s:
        executed = review_view(s, domain.home, job_id)["source"]["executed_notebook"]
    if not executed:
        raise NotFound.coded("job_no_notebook", job_id=job_id)
    headers = {"Content-Security-Policy": NOTEBOOK_CSP, "X-Content-Type-Options": "nosniff"}
    return HTMLResponse(notebook_html(executed), headers=headers)


@router.post("/console/review/{job_id}")
def decide(request: Request, job_id: Id, who: Reviewer, form: FormDep) -> Any:
    decision = str(form.get("decision", ""))
    if decision not in ("approve", "deny"):
        raise InvalidInput.coded("review_decision")
    exception = decision == "approve" and form.get("exception") == "yes"
    domain = domain_of(request)
    with domain.transaction() as s:
        reviewer = get_user(s, who.name)
        reason = str(form.get("reason", ""))
        status = review(s, domain.home, job_id, reviewer, decision, reason, exception).status
    return RedirectResponse(f"/console/review?notice=job+{job_id}:+{status}", status_code=303)
