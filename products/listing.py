"""Data product listings (数据产品): a released output offered with its provenance."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import append
from core.errors import InvalidInput, NotFound, PermissionDenied
from operators.accounts import Principal
from products.records import Product
from products.release import get_release
from sandbox.records import Job


def list_product(
    session: Session,
    release_id: int,
    user: Principal,
    name: str,
    description: str = "",
    scenario: str = "",
    price_yuan: float = 0.0,
) -> Product:
    release = get_release(session, release_id)
    job = session.get(Job, release.job_id)
    assert job is not None
    if user.role != "admin" and (user.role != "operator" or user.operator_id != job.operator_id):
        raise PermissionDenied("only the company that received a release may list it as a product")
    if not name.strip():
        raise InvalidInput("a product needs a name")
    if price_yuan < 0:
        raise InvalidInput("a price cannot be negative")
    provenance = {
        "job": job.id,
        "license": job.license_id,
        "datasets": job.policy.get("datasets", []),
        "policy_version": job.policy.get("policy_version"),
        "package_sha256": release.sha256,
        "reviewers": release.manifest.get("reviewers", []),
        "audit_position": release.manifest.get("audit_position"),
    }
    product = Product(
        release_id=release.id,
        operator_id=job.operator_id,
        name=name.strip(),
        description=description,
        scenario=scenario,
        price_yuan=price_yuan,
        provenance=provenance,
    )
    session.add(product)
    session.flush()
    append(
        session,
        user.actor,
        "product.listed",
        f"product:{product.id}",
        {
            "name": product.name,
            "release": release.id,
            "price_yuan": price_yuan,
            "scenario": scenario,
        },
    )
    return product


def list_products(session: Session) -> list[Product]:
    return list(session.scalars(select(Product).order_by(Product.id)))


def get_product(session: Session, product_id: int) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"no product with id {product_id}; see `sluice products list`")
    return product
