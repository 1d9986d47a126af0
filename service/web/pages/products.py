"""The operator's products: list a release as a product (cost-plus pricing, filed with
the regulator), reprice or withdraw it, and record its usage and spending."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from jobs.records import Job
from operators.accounts import Principal
from products.listing import list_product, list_products, reprice_product, withdraw_product
from products.pricing import COST_ITEMS, MAX_MARGIN, PricingBasis
from products.records import Release
from products.usage import record_spending, record_usage
from service.deps import company_scope
from service.web.pages.authority import amount, day
from service.web.pages.operator import whole_number
from service.web.session import FormDep, domain_of, need, render

router = APIRouter()
Operator = Annotated[Principal, Depends(need("operator"))]
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]


def pricing_from(form: dict[str, Any]) -> PricingBasis:
    """Costs in yuan; margin and discounts in percent, as people write them."""
    costs = {item: amount(form.get(f"cost_{item}"), item, False) or 0.0 for item in COST_ITEMS}
    return PricingBasis(
        costs=costs,
        margin=(amount(form.get("margin"), "margin", False) or 0.0) / 100,
        sme_discount=(amount(form.get("sme_discount"), "sme_discount", False) or 0.0) / 100,
        public_interest_discount=(
            amount(form.get("public_interest_discount"), "public_discount", False) or 0.0
        )
        / 100,
    )


@router.get("/console/products")
def my_products(request: Request, who: Operator, notice: str | None = None) -> Any:
    scope = company_scope(who)
    with domain_of(request).transaction() as s:
        products = [p.to_dict() for p in list_products(s, operator_id=scope)]
        query = select(Release, Job).join(Job, Job.id == Release.job_id)
        if scope is not None:
            query = query.where(Job.operator_id == scope)
        releases = [
            {"id": r.id, "job": j.id, "files": r.files, "at": r.at.isoformat()[:19]}
            for r, j in s.execute(query.order_by(Release.id.desc()))
        ]
    return render(
        request,
        "operator_products.html",
        products=list(reversed(products)),
        releases=releases,
        cost_items=COST_ITEMS,
        margin_cap=round(MAX_MARGIN * 100, 2),
        notice=notice,
    )


@router.post("/console/products")
def add(request: Request, who: Operator, form: FormDep) -> Any:
    domain = domain_of(request)
    with domain.transaction() as s:
        created = list_product(
            s,
            whole_number(form.get("release_id"), "release"),
            who,
            str(form.get("name", "")),
            str(form.get("description", "")),
            str(form.get("scenario", "")),
            pricing=pricing_from(form),
            usage_scope=str(form.get("usage_scope", "")),
            term_until=day(form.get("term_until"), "product_term", required=False),
            update_cycle=str(form.get("update_cycle", "once")),
            home=domain.home,
        )
        number = created.id
    return RedirectResponse(f"/console/products?notice=product+{number}:+listed", 303)


@router.post("/console/products/{product_id}/{action}")
def change(request: Request, product_id: Id, action: str, who: Operator, form: FormDep) -> Any:
    note = str(form.get("note", ""))
    with domain_of(request).transaction() as s:
        if action == "reprice":
            reprice_product(s, product_id, who, pricing_from(form), note)
        elif action == "withdraw":
            withdraw_product(s, product_id, who, note)
        elif action == "usage":
            record_usage(
                s,
                product_id,
                who,
                str(form.get("buyer", "")),
                str(form.get("buyer_type", "")),
                whole_number(form.get("quantity", "1"), "quantity"),
                note,
            )
        elif action == "spending":
            spent = amount(form.get("amount"), "amount") or 0.0
            record_spending(s, product_id, who, str(form.get("category", "")), spent, note)
        else:
            return RedirectResponse("/console/products", 303)
    return RedirectResponse(f"/console/products?notice=product+{product_id}:+{action}", 303)
