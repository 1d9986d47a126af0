"""Data products (数据产品): the public market and provenance checks; operators list,
reprice, withdraw and record usage; filings (告知) for the regulator; the public
disclosure report of income and spending (收支明细)."""

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from core.errors import NotFound
from operators.accounts import Principal
from products.filings import list_filings
from products.listing import (
    get_product,
    list_product,
    list_products,
    product_not_found,
    reprice_product,
    withdraw_product,
)
from products.pricing import PricingBasis
from products.provenance import signed_manifest, verify_provenance
from products.records import Release
from products.usage import (
    UsageRecord,
    current_period,
    disclosure_report,
    record_spending,
    record_usage,
    report_csv,
)
from service.deps import DomainDep, OperatorDep, SessionDep, company_scope, require_role
from service.pagination import Cursor, Page, PageLimit, paginate
from service.routes.media import CsvText
from service.schemas.products import (
    DisclosureOut,
    FilingOut,
    ProductOut,
    ProvenanceOut,
    SignedManifestOut,
    SpendingOut,
    UsageOut,
)

router = APIRouter(prefix="/api/v1", tags=["products"])
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
Money = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Short = Annotated[str, Field(max_length=2000)]
Seller = Annotated[Principal, Depends(require_role("operator", "authority"))]
Watcher = Annotated[Principal, Depends(require_role("operator", "authority", "regulator"))]
Period = Annotated[str, Query(pattern=r"^\d{4}(-(Q[1-4]|\d{2}))?$", max_length=7)]


class Costs(BaseModel):
    """Costs per unit sold, in yuan, by item."""

    data_processing: Money = 0.0
    compute: Money = 0.0
    storage: Money = 0.0
    labour: Money = 0.0
    other: Money = 0.0


class Pricing(BaseModel):
    costs: Costs
    margin: Share = 0.0
    sme_discount: Share = 0.3
    public_interest_discount: Share = 1.0

    def basis(self) -> PricingBasis:
        return PricingBasis(
            costs=self.costs.model_dump(),
            margin=self.margin,
            sme_discount=self.sme_discount,
            public_interest_discount=self.public_interest_discount,
        )


class Listing(BaseModel):
    release_id: int = Field(ge=1, le=2_147_483_647)
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Short = ""
    scenario: Short = ""
    usage_scope: Short = ""
    term_until: date | None = None
    update_cycle: Literal["once", "daily", "weekly", "monthly", "quarterly", "yearly"] = "once"
    pricing: Pricing


class Repricing(BaseModel):
    pricing: Pricing
    note: Short = ""


class Withdrawal(BaseModel):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class Usage(BaseModel):
    buyer: Annotated[str, Field(min_length=1, max_length=200)]
    buyer_type: Literal["public_interest", "sme", "commercial"]
    quantity: int = Field(default=1, ge=1, le=1_000_000)
    note: Short = ""


class Spending(BaseModel):
    category: Literal["data_processing", "compute", "storage", "labour", "other"]
    amount: Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)]
    note: Short = ""


@router.get("/products")
def products(s: SessionDep, limit: PageLimit = 100, cursor: Cursor = None) -> Page[ProductOut]:
    """The public market: every listed product, with its price tiers and provenance."""
    shown = [ProductOut.model_validate(p.to_dict()) for p in list_products(s, listed_only=True)]
    return paginate(shown, lambda p: p.id, limit, cursor)


@router.get("/products/{product_id}")
def product(product_id: Id, s: SessionDep) -> ProductOut:
    return ProductOut.model_validate(get_product(s, product_id).to_dict())


@router.get("/products/{product_id}/verification")
def verification(product_id: Id, s: SessionDep, domain: DomainDep) -> ProvenanceOut:
    """Rerun every provenance check: package signature and digest, reviews, audit position."""
    checks = verify_provenance(s, domain.home, get_product(s, product_id))
    return ProvenanceOut.model_validate(
        {"ok": all(c.ok for c in checks), "checks": [c.to_dict() for c in checks]}
    )


@router.get("/products/{product_id}/manifest")
def manifest(product_id: Id, s: SessionDep, domain: DomainDep) -> SignedManifestOut:
    """The release's signed manifest and the domain's public key, to verify offline."""
    release = s.get(Release, get_product(s, product_id).release_id)
    if release is None:
        raise NotFound.coded("product_no_release", product_id=product_id)
    return SignedManifestOut.model_validate(signed_manifest(domain.home, release))


@router.post("/products", status_code=201)
def add_product(body: Listing, who: OperatorDep, s: SessionDep, domain: DomainDep) -> ProductOut:
    created = list_product(
        s,
        body.release_id,
        who,
        body.name,
        body.description,
        body.scenario,
        pricing=body.pricing.basis(),
        usage_scope=body.usage_scope,
        term_until=body.term_until,
        update_cycle=body.update_cycle,
        home=domain.home,
    )
    return ProductOut.model_validate(created.to_dict())


@router.put("/products/{product_id}/pricing")
def reprice(product_id: Id, body: Repricing, who: OperatorDep, s: SessionDep) -> ProductOut:
    repriced = reprice_product(s, product_id, who, body.pricing.basis(), body.note)
    return ProductOut.model_validate(repriced.to_dict())


@router.post("/products/{product_id}/withdraw")
def withdraw(product_id: Id, body: Withdrawal, who: Seller, s: SessionDep) -> ProductOut:
    return ProductOut.model_validate(withdraw_product(s, product_id, who, body.reason).to_dict())


@router.post("/products/{product_id}/usage", status_code=201)
def add_usage(product_id: Id, body: Usage, who: OperatorDep, s: SessionDep) -> UsageOut:
    record = record_usage(s, product_id, who, body.buyer, body.buyer_type, body.quantity, body.note)
    return UsageOut.model_validate(record.to_dict())


@router.get("/products/{product_id}/usage")
def usage(
    product_id: Id, who: Watcher, s: SessionDep, limit: PageLimit = 100, cursor: Cursor = None
) -> Page[UsageOut]:
    found = get_product(s, product_id)
    scope = company_scope(who)
    if scope is not None and found.operator_id != scope:
        raise product_not_found(product_id)
    rows = s.scalars(
        select(UsageRecord).where(UsageRecord.product_id == product_id).order_by(UsageRecord.id)
    )
    shown = [UsageOut.model_validate(r.to_dict()) for r in rows]
    return paginate(shown, lambda r: r.id, limit, cursor)


@router.post("/products/{product_id}/spending", status_code=201)
def add_spending(product_id: Id, body: Spending, who: OperatorDep, s: SessionDep) -> SpendingOut:
    spent = record_spending(s, product_id, who, body.category, body.amount, body.note)
    return SpendingOut.model_validate(spent.to_dict())


@router.get("/filings")
def filings(
    who: Watcher, s: SessionDep, limit: PageLimit = 100, cursor: Cursor = None
) -> Page[FilingOut]:
    """Filings (告知) to the regulator: listing, repricing and withdrawal, newest first."""
    shown = [FilingOut.model_validate(f.to_dict()) for f in list_filings(s, company_scope(who))]
    return paginate(shown, lambda f: f.id, limit, cursor, newest_first=True)


@router.get("/disclosure")
def disclosure(s: SessionDep, period: Period | None = None) -> DisclosureOut:
    """The public report of income and spending (收支明细) for a year, quarter or month."""
    return DisclosureOut.model_validate(disclosure_report(s, period or current_period()).to_dict())


@router.get("/disclosure.csv", response_class=CsvText)
def disclosure_csv(s: SessionDep, period: Period | None = None) -> PlainTextResponse:
    chosen = period or current_period()
    return PlainTextResponse(
        report_csv(disclosure_report(s, chosen)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="disclosure-{chosen}.csv"'},
    )
