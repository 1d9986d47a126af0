"""Filings (告知): listing, repricing or withdrawing a product notifies the regulator.

Each filing keeps the pricing basis, scenario and usage scope as they were at the
time, and points at the audit entry written with it in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from audit_log import Actor, AuditAction, append
from core.db import Base, utcnow
from products.records import Product

FILING_KINDS = ("listing", "repricing", "withdrawal", "ceiling")


class Filing(Base):
    __tablename__ = "product_filings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), nullable=False, index=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    pricing: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    scenario: Mapped[str] = mapped_column(Text, nullable=False)
    usage_scope: Mapped[str] = mapped_column(Text, nullable=False)
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)
    filed_by: Mapped[str] = mapped_column(String(200), nullable=False)
    audit_seq: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "product_id": self.product_id,
            "operator_id": self.operator_id,
            "kind": self.kind,
            "pricing": self.pricing,
            "scenario": self.scenario,
            "usage_scope": self.usage_scope,
            "note": self.note,
            "filed_by": self.filed_by,
            "audit_seq": self.audit_seq,
            "at": self.at.isoformat(),
        }


class AnnualDisclosure(Base):
    """An annual disclosure report (年度公开), signed with the domain key and filed with
    the regulator; `document` is what was signed (see `products.annual`)."""

    __tablename__ = "annual_disclosures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[str] = mapped_column(Text, nullable=False)
    filed_by: Mapped[str] = mapped_column(String(200), nullable=False)
    audit_seq: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


def file_notice(
    session: Session, product: Product, kind: str, actor: Actor, note: str = ""
) -> Filing:
    """Record a filing and its audit entry (`product.filed`) in the caller's transaction."""
    assert kind in FILING_KINDS
    entry = append(
        session,
        actor,
        AuditAction.PRODUCT_FILED,
        f"product:{product.id}",
        {
            "kind": kind,
            "name": product.name,
            "pricing": product.pricing,
            "scenario": product.scenario,
            "usage_scope": product.usage_scope,
            "note": note,
        },
    )
    filing = Filing(
        product_id=product.id,
        operator_id=product.operator_id,
        kind=kind,
        pricing=product.pricing,
        scenario=product.scenario,
        usage_scope=product.usage_scope,
        note=note,
        filed_by=actor.name,
        audit_seq=entry.seq,
    )
    session.add(filing)
    session.flush()
    return filing


def list_filings(session: Session, operator_id: int | None = None) -> list[Filing]:
    query = select(Filing).order_by(Filing.id.desc())
    if operator_id is not None:
        query = query.where(Filing.operator_id == operator_id)
    return list(session.scalars(query))
