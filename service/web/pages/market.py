"""The public product market (数据产品市场): products with their terms, price tiers and
provenance checked live, and the disclosure report of income and spending (收支明细)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import select

from core.errors import NotFound
from operators.records import Operator
from products.annual import latest_disclosure, signed_file
from products.listing import get_product, list_products
from products.provenance import verify_provenance
from products.usage import current_period, disclosure_report
from service.web.session import domain_of, render

router = APIRouter()
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]


@router.get("/market")
def market(request: Request, q: Annotated[str, Query(max_length=100)] = "") -> Any:
    with domain_of(request).transaction() as s:
        names = {k: v for k, v in s.execute(select(Operator.id, Operator.name))}
        found = [
            {**p.to_dict(), "operator": names.get(p.operator_id)}
            for p in list_products(s, listed_only=True)
        ]
    needle = q.strip().lower()
    if needle:
        found = [
            p
            for p in found
            if needle in " ".join((p["name"], p["description"], p["scenario"])).lower()
        ]
    return render(request, "market.html", products=found, q=q)


@router.get("/market/disclosure")
def disclosure(
    request: Request,
    period: Annotated[str, Query(pattern=r"^\d{4}(-(Q[1-4]|\d{2}))?$", max_length=7)] = "",
) -> Any:
    chosen = period or current_period()
    with domain_of(request).transaction() as s:
        report = disclosure_report(s, chosen).to_dict()
        annual = latest_disclosure(s)
        shown = annual.document if annual else None
        digest = annual.sha256 if annual else ""
    return render(
        request,
        "disclosure.html",
        report=report,
        period=chosen,
        annual=shown,
        annual_sha256=digest,
    )


@router.get("/market/disclosure/annual/{year}.json")
def annual_file(request: Request, year: Annotated[int, Path(ge=2000, le=2999)]) -> Response:
    """The signed annual disclosure as published (verify with `disclosure verify`)."""
    with domain_of(request).transaction() as s:
        found = latest_disclosure(s, year)
        if found is None:
            raise NotFound.coded("page_disclosure_missing", year=year)
        data = signed_file(found)
    return Response(data, media_type="application/json")


@router.get("/market/{product_id}")
def product(request: Request, product_id: Id) -> Any:
    domain = domain_of(request)
    with domain.transaction() as s:
        found = get_product(s, product_id)
        checks = [c.to_dict() for c in verify_provenance(s, domain.home, found)]
        operator = s.get(Operator, found.operator_id)
        shown = {**found.to_dict(), "operator": operator.name if operator else None}
    return render(
        request,
        "product.html",
        product=shown,
        checks=checks,
        verified=all(c["ok"] for c in checks),
    )
