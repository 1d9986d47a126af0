"""The regulator's pages (监管): the audit timeline with filters and a verification
badge, alerts, and product filings (告知). Read-only: nothing here changes state."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import func, select

from audit_log import ROUTINE_ACTIONS, AuditEntry
from operators.accounts import Principal
from operators.licenses import list_licenses
from operators.records import Operator
from products.filings import list_filings
from products.records import Product
from service.verifications import badge, full_check, start_verification
from service.web.session import FormDep, domain_of, need, render

router = APIRouter()
Regulator = Annotated[Principal, Depends(need("regulator"))]
PAGE = 100
BUDGET_WARNING = 0.8
Text = Annotated[str, Query(max_length=200)]


def day_bound(text: str, end: bool) -> datetime | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return datetime.combine(day + timedelta(days=1) if end else day, time())


@router.get("/console/audit")
def timeline(
    request: Request,
    _who: Regulator,
    action: Text = "",
    actor: Text = "",
    subject: Text = "",
    since: Text = "",
    until: Text = "",
    before: Annotated[int, Query(ge=0, le=2_147_483_647)] = 0,
    show_all: Annotated[bool, Query(alias="all")] = False,
) -> Any:
    query = select(AuditEntry)
    # routine entries (token use, job starts) hide unless asked for, by the switch or by name
    hide = not show_all and not any(a.startswith(action) for a in ROUTINE_ACTIONS if action)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if subject:
        query = query.where(AuditEntry.subject.startswith(subject, autoescape=True))
    if (start := day_bound(since, end=False)) is not None:
        query = query.where(AuditEntry.at >= start)
    if (stop := day_bound(until, end=True)) is not None:
        query = query.where(AuditEntry.at < stop)
    if before:
        query = query.where(AuditEntry.seq < before)
    hidden_query = query.where(AuditEntry.action.in_(ROUTINE_ACTIONS))
    if hide:
        query = query.where(AuditEntry.action.not_in(ROUTINE_ACTIONS))
    with domain_of(request).transaction() as s:
        entries = [
            e.to_dict() for e in s.scalars(query.order_by(AuditEntry.seq.desc()).limit(PAGE))
        ]
        hidden = s.scalar(select(func.count()).select_from(hidden_query.subquery())) if hide else 0
        verification = badge(s)
    filters = {"action": action, "actor": actor, "subject": subject, "since": since}
    return render(
        request,
        "audit.html",
        entries=entries,
        verification=verification,
        filters={**filters, "until": until},
        older=entries[-1]["seq"] if len(entries) == PAGE else None,
        show_all=show_all,
        hidden=hidden,
        routine=sorted(ROUTINE_ACTIONS),
    )


@router.get("/console/alerts")
def alerts(request: Request, _who: Regulator) -> Any:
    with domain_of(request).transaction() as s:
        raised = [
            e.to_dict()
            for e in s.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.startswith("alert."))
                .order_by(AuditEntry.seq.desc())
                .limit(PAGE)
            )
        ]
        budgets = [
            lic.to_dict(name)
            for lic, name in list_licenses(s)
            if lic.epsilon_total and lic.epsilon_spent / lic.epsilon_total >= BUDGET_WARNING
        ]
        refused = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "request.refused")
            .order_by(AuditEntry.seq.desc())
            .limit(20)
        )
        refusals = [e.to_dict() for e in refused]
        verification = badge(s)
    return render(
        request,
        "alerts.html",
        alerts=raised,
        budgets=budgets,
        refusals=refusals,
        verification=verification,
        threshold=int(BUDGET_WARNING * 100),
    )


@router.get("/console/filings")
def filings(request: Request, _who: Regulator) -> Any:
    with domain_of(request).transaction() as s:
        names = {k: v for k, v in s.execute(select(Operator.id, Operator.name))}
        products = {k: v for k, v in s.execute(select(Product.id, Product.name))}
        rows = [
            {
                **f.to_dict(),
                "operator": names.get(f.operator_id),
                "product": products.get(f.product_id),
            }
            for f in list_filings(s)
        ]
    return render(request, "filings.html", filings=rows)


@router.post("/console/audit/verify")
def verify_now(request: Request, who: Regulator, _form: FormDep) -> Any:
    """Start a full verification of the log in the background; the badge shows its progress."""
    start_verification(domain_of(request), who.name, "console")
    return RedirectResponse("/console/audit", status_code=303)


@router.get("/console/audit/verify")
def verify_status(request: Request, _who: Regulator) -> JSONResponse:
    return JSONResponse(full_check(domain_of(request)).to_dict())
