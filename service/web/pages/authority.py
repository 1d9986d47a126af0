"""The license registry for every role: operators apply; the data authority approves
(possibly narrowed), refuses, suspends, reinstates and revokes; regulators read it
with each license's privacy-budget use drawn as a chart."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from catalog import list_datasets
from core.errors import InvalidInput
from jobs.ledger import BudgetCharge
from operators.accounts import Principal
from operators.licenses import list_licenses, revoke_license
from operators.lifecycle import (
    apply_for_license,
    approve_license,
    refuse_license,
    reinstate_license,
    suspend_license,
)
from products.pricing import COST_ITEMS
from service.deps import company_scope
from service.web.session import FormDep, domain_of, need, render

router = APIRouter()
Anyone = Annotated[Principal, Depends(need("operator", "authority", "reviewer", "regulator"))]
Operator = Annotated[Principal, Depends(need("operator"))]
Authority = Annotated[Principal, Depends(need("authority"))]
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
ACTIONS = ("approve", "refuse", "suspend", "reinstate", "revoke")
ROW_FILTER_FIELD = "row_filter:"

# A mistyped form field's refusal, by field: one code each, so the console names the
# field in the reader's language rather than splicing in an English phrase.
_Refusal = Callable[[str], InvalidInput]
_NOT_A_DATE: dict[str, _Refusal] = {
    "term_end": lambda text: InvalidInput.coded("page_term_end_not_date", text=text),
    "term_start": lambda text: InvalidInput.coded("page_term_start_not_date", text=text),
    "product_term": lambda text: InvalidInput.coded("page_product_term_not_date", text=text),
}
_NOT_A_NUMBER: dict[str, _Refusal] = {
    "epsilon": lambda text: InvalidInput.coded("page_epsilon_not_number", text=text),
    "delta": lambda text: InvalidInput.coded("page_delta_not_number", text=text),
    "margin": lambda text: InvalidInput.coded("page_margin_not_number", text=text),
    "sme_discount": lambda text: InvalidInput.coded("page_sme_discount_not_number", text=text),
    "public_discount": lambda text: InvalidInput.coded(
        "page_public_discount_not_number", text=text
    ),
    "amount": lambda text: InvalidInput.coded("page_amount_not_number", text=text),
}
_NOT_FINITE: dict[str, Callable[[], InvalidInput]] = {
    "epsilon": lambda: InvalidInput.coded("page_epsilon_not_finite"),
    "delta": lambda: InvalidInput.coded("page_delta_not_finite"),
    "margin": lambda: InvalidInput.coded("page_margin_not_finite"),
    "sme_discount": lambda: InvalidInput.coded("page_sme_discount_not_finite"),
    "public_discount": lambda: InvalidInput.coded("page_public_discount_not_finite"),
    "amount": lambda: InvalidInput.coded("page_amount_not_finite"),
}


def day(value: Any, field: str, required: bool = True) -> date | None:
    """The date typed into `field` (a key of `_NOT_A_DATE`), or None if left empty."""
    text = str(value or "").strip()
    if not text and not required:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _NOT_A_DATE[field](text) from None


def amount(value: Any, field: str, required: bool = True) -> float | None:
    """The number typed into `field` (a key of `_NOT_A_NUMBER`, or a cost item)."""
    text = str(value or "").strip()
    if not text and not required:
        return None
    try:
        number = float(text)
    except ValueError:
        if field in COST_ITEMS:
            raise InvalidInput.coded("page_cost_not_number", item=field, text=text) from None
        raise _NOT_A_NUMBER[field](text) from None
    if number != number or number in (float("inf"), float("-inf")):
        if field in COST_ITEMS:
            raise InvalidInput.coded("page_cost_not_finite", item=field)
        raise _NOT_FINITE[field]()
    return number


def row_filters(form: Any) -> dict[str, str]:
    """The form's per-dataset filter fields (`row_filter:<dataset>`) that were filled in."""
    return {
        str(key).removeprefix(ROW_FILTER_FIELD): str(value).strip()
        for key, value in form.items()
        if str(key).startswith(ROW_FILTER_FIELD) and str(value).strip()
    }


def budget_curves(session: Any, license_ids: list[int]) -> dict[int, list[float]]:
    """Cumulative ε spent after each charge, per license (for the sparkline)."""
    curves: dict[int, list[float]] = defaultdict(list)
    query = select(BudgetCharge).where(BudgetCharge.license_id.in_(license_ids))
    for charge in session.scalars(query.order_by(BudgetCharge.id)):
        previous = curves[charge.license_id][-1] if curves[charge.license_id] else 0.0
        curves[charge.license_id].append(previous + charge.epsilon)
    return curves


@router.get("/console/licenses")
def registry(request: Request, who: Anyone, notice: str | None = None) -> Any:
    with domain_of(request).transaction() as s:
        licenses = [lic.to_dict(name) for lic, name in list_licenses(s, company_scope(who))]
        curves = budget_curves(s, [lic["id"] for lic in licenses])
        datasets = [{"name": d.name, "title": d.title} for d in list_datasets(s)]
    return render(
        request,
        "licenses.html",
        licenses=list(reversed(licenses)),
        curves=curves,
        datasets=datasets,
        notice=notice,
        today=date.today().isoformat(),
    )


@router.post("/console/licenses/apply")
def apply(request: Request, who: Operator, form: FormDep) -> Any:
    chosen = [str(v) for k, v in form.items() if k.startswith("dataset:")]
    with domain_of(request).transaction() as s:
        record = apply_for_license(
            s,
            operator_id=who.operator_id or 0,
            datasets=chosen,
            max_level=str(form.get("max_level", "")),
            purpose=str(form.get("purpose", "")),
            scenario=str(form.get("scenario", "")),
            valid_until=day(form.get("valid_until"), "term_end") or date.today(),
            valid_from=day(form.get("valid_from"), "term_start", required=False),
            epsilon=amount(form.get("epsilon"), "epsilon") or 0.0,
            actor=who.actor,
            row_filters=row_filters(form),
        )
        number = record.id
    return RedirectResponse(f"/console/licenses?notice=license+{number}:+pending", 303)


@router.post("/console/licenses/{license_id}/{action}")
def decide(request: Request, license_id: Id, action: str, who: Authority, form: FormDep) -> Any:
    if action not in ACTIONS:
        raise InvalidInput.coded("page_action_unknown", action=action, actions=", ".join(ACTIONS))
    text = str(form.get("reason", "")).strip()
    if action == "revoke" and not text:
        raise InvalidInput.coded("revocation_reason")
    with domain_of(request).transaction() as s:
        if action == "approve":
            narrowed = [str(v) for k, v in form.items() if k.startswith("dataset:")]
            record = approve_license(
                s,
                license_id,
                who.actor,
                datasets=narrowed or None,
                max_level=str(form.get("max_level", "")) or None,
                valid_until=day(form.get("valid_until"), "term_end", required=False),
                epsilon=amount(form.get("epsilon"), "epsilon", required=False),
                row_filters=row_filters(form),
                note=text,
                delta=amount(form.get("delta"), "delta", required=False),
            )
        elif action == "refuse":
            record = refuse_license(s, license_id, who.actor, text)
        elif action == "suspend":
            record = suspend_license(s, license_id, who.actor, text)
        elif action == "reinstate":
            record = reinstate_license(s, license_id, who.actor, text)
        else:
            record = revoke_license(s, license_id, who.actor, text)
        status = record.effective_status()
    return RedirectResponse(f"/console/licenses?notice=license+{license_id}:+{status}", 303)
