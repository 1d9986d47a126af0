"""Licenses and data products: the registry staff read, and the public market."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from operators.accounts import Principal
from operators.licenses import list_licenses
from products.listing import get_product, list_products
from service.deps import SessionDep, company_scope, require_role

router = APIRouter(prefix="/api/v1", tags=["licenses", "products"])
LicenseReader = Annotated[Principal, Depends(require_role("operator", "authority", "regulator"))]


@router.get("/licenses")
def get_licenses(who: LicenseReader, s: SessionDep) -> list[dict[str, Any]]:
    return [lic.to_dict(name) for lic, name in list_licenses(s, company_scope(who))]


@router.get("/products")
def products(s: SessionDep) -> list[dict[str, Any]]:
    return [p.to_dict() for p in list_products(s)]


@router.get("/products/{product_id}")
def product(product_id: int, s: SessionDep) -> dict[str, Any]:
    return get_product(s, product_id).to_dict()
