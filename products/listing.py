"""Data product listings (数据产品): a released output offered with its terms, price tiers
and provenance; every listing, repricing and withdrawal is filed (告知) with the regulator.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import AuditAction, append
from core.db import utcnow
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Step
from core.home import Home
from jobs.records import Job
from operators.accounts import Principal
from operators.licenses import usable_license
from products.filings import file_notice
from products.pricing import PricingBasis
from products.provenance import provenance_of
from products.records import Product
from products.release import get_release, release_not_found

UPDATE_CYCLES = ("once", "daily", "weekly", "monthly", "quarterly", "yearly")


def _check_owner(
    user: Principal, operator_id: int, refused: PermissionDenied, missing: NotFound
) -> None:
    """Another company's object is `missing` (its existence is not revealed); a user
    who is no operator at all lacks the role, and is `refused`."""
    if user.role == "admin":
        return
    if user.role != "operator":
        raise refused
    if user.operator_id != operator_id:
        raise missing


def list_product(
    session: Session,
    release_id: int,
    user: Principal,
    name: str,
    description: str = "",
    scenario: str = "",
    price_yuan: float = 0.0,
    *,
    pricing: PricingBasis | None = None,
    usage_scope: str = "",
    term_until: date | None = None,
    update_cycle: str = "once",
    home: Home | None = None,
) -> Product:
    """List a release as a product and file it. Without `pricing`, `price_yuan` is the
    whole cost with no margin (so every tier is derived from it)."""
    release = get_release(session, release_id)
    job = session.get(Job, release.job_id)
    assert job is not None
    refused = PermissionDenied.coded("listing_owner_list")
    _check_owner(user, job.operator_id, refused, release_not_found(release_id))
    license = usable_license(session, job.license_id)
    if not name.strip():
        raise InvalidInput.coded("product_name")
    if price_yuan < 0:
        raise InvalidInput.coded("price_negative")
    if update_cycle not in UPDATE_CYCLES:
        raise InvalidInput.coded("update_cycle", cycles=", ".join(UPDATE_CYCLES))
    term = term_until or license.valid_until
    if not date.today() <= term <= license.valid_until:
        raise InvalidInput.coded("product_term", valid_until=str(license.valid_until))
    basis = (pricing or PricingBasis(costs={"other": price_yuan})).validate()
    product = Product(
        release_id=release.id,
        operator_id=job.operator_id,
        name=name.strip(),
        description=description,
        scenario=scenario or license.scenario or license.purpose,
        usage_scope=usage_scope,
        term_until=term,
        update_cycle=update_cycle,
        pricing=basis.to_dict(),
        price_yuan=basis.tiers()["commercial"],
        provenance=provenance_of(session, release, job, home),
    )
    session.add(product)
    session.flush()
    append(
        session,
        user.actor,
        AuditAction.PRODUCT_LISTED,
        f"product:{product.id}",
        {
            "name": product.name,
            "release": release.id,
            "price_yuan": product.price_yuan,
            "scenario": product.scenario,
            "usage_scope": usage_scope,
        },
    )
    file_notice(session, product, "listing", user.actor)
    return product


def reprice_product(
    session: Session, product_id: int, user: Principal, pricing: PricingBasis, note: str = ""
) -> Product:
    """Change a listed product's pricing basis; the new tiers are filed before they apply."""
    product = get_product(session, product_id)
    refused = PermissionDenied.coded("listing_owner_reprice")
    _check_owner(user, product.operator_id, refused, product_not_found(product_id))
    if product.status != "listed":
        raise Conflict.coded("product_not_listed", product_id=product_id, status=product.status)
    before = product.pricing.get("tiers")
    product.pricing = pricing.validate().to_dict()
    product.price_yuan = pricing.tiers()["commercial"]
    product.updated_at = utcnow()
    append(
        session,
        user.actor,
        AuditAction.PRODUCT_REPRICED,
        f"product:{product.id}",
        {"before": before, "after": product.pricing["tiers"], "note": note},
    )
    file_notice(session, product, "repricing", user.actor, note)
    return product


def withdraw_product(session: Session, product_id: int, user: Principal, reason: str) -> Product:
    product = get_product(session, product_id)
    if user.role not in ("authority", "admin"):
        refused = PermissionDenied.coded("listing_owner_withdraw")
        _check_owner(user, product.operator_id, refused, product_not_found(product_id))
    if product.status != "listed":
        raise Conflict.coded("product_already", product_id=product_id, status=product.status)
    if not reason.strip():
        raise InvalidInput.coded("withdrawal_reason")
    product.status = "withdrawn"
    product.updated_at = utcnow()
    append(
        session,
        user.actor,
        AuditAction.PRODUCT_WITHDRAWN,
        f"product:{product.id}",
        {"reason": reason},
    )
    file_notice(session, product, "withdrawal", user.actor, reason)
    return product


def list_products(
    session: Session, listed_only: bool = False, operator_id: int | None = None
) -> list[Product]:
    query = select(Product).order_by(Product.id)
    if listed_only:
        query = query.where(Product.status == "listed")
    if operator_id is not None:
        query = query.where(Product.operator_id == operator_id)
    return list(session.scalars(query))


def product_not_found(product_id: int) -> NotFound:
    """The one answer for a product that does not exist or is another company's."""
    return NotFound.coded(
        "product_missing",
        suggestion="list the products",
        step=Step.LIST_PRODUCTS,
        product_id=product_id,
    )


def get_product(session: Session, product_id: int) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise product_not_found(product_id)
    return product
