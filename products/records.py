"""Tables for reviews (出域审核), release packages and data product listings (数据产品)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("job_id", "reviewer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), nullable=False, index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    reviewer: Mapped[str] = mapped_column(String(200), nullable=False)
    decision: Mapped[str] = mapped_column(String(10), nullable=False)  # approve | deny
    reason: Mapped[str] = mapped_column(Text, default="")
    # an approval that also releases custom outputs, as a recorded exception
    exception: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reviewer": self.reviewer,
            "decision": self.decision,
            "reason": self.reason,
            "exception": self.exception,
            "at": self.at.isoformat(),
        }


class Release(Base):
    __tablename__ = "releases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), unique=True, nullable=False)
    package_path: Mapped[str] = mapped_column(String(500), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    files: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job_id": self.job_id,
            "package": self.package_path,
            "sha256": self.sha256,
            "files": self.files,
            "withheld": self.manifest.get("withheld", []),
            "encryption": (self.manifest.get("encryption") or {}).get("cipher"),
            "at": self.at.isoformat(),
        }


class Product(Base):
    """A data product (数据产品) listed from one release, with its price tiers and terms.

    `price_yuan` is the commercial tier; `pricing` holds the cost-plus basis and
    every tier (see `products.pricing`). A withdrawn product stays for the record.
    """

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), nullable=False)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, default="")
    scenario: Mapped[str] = mapped_column(Text, default="")
    price_yuan: Mapped[float] = mapped_column(Float, default=0.0)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    listed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    usage_scope: Mapped[str] = mapped_column(Text, default="", nullable=False)
    term_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    update_cycle: Mapped[str] = mapped_column(String(20), default="once", nullable=False)
    pricing: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    status: Mapped[str] = mapped_column(String(20), default="listed", nullable=False)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # file: a release package; interface: served as an API (products.interfaces)
    kind: Mapped[str] = mapped_column(String(20), default="file", nullable=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "description": self.description,
            "scenario": self.scenario,
            "usage_scope": self.usage_scope,
            "term_until": self.term_until.isoformat() if self.term_until else None,
            "update_cycle": self.update_cycle,
            "price_yuan": self.price_yuan,
            "pricing": self.pricing,
            "status": self.status,
            "operator_id": self.operator_id,
            "release_id": self.release_id,
            "provenance": self.provenance,
            "listed_at": self.listed_at.isoformat(),
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


class OperatorKey(Base):
    """An operator's X25519 public key, registered by the authority, for encrypted delivery."""

    __tablename__ = "operator_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), nullable=False, index=True)
    public_key: Mapped[str] = mapped_column(Text, nullable=False)  # PEM
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    cipher: Mapped[str] = mapped_column(String(20), nullable=False)  # AES-256-GCM | SM4-GCM
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    registered_by: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operator_id": self.operator_id,
            "fingerprint": self.fingerprint,
            "cipher": self.cipher,
            "active": self.active,
            "registered_by": self.registered_by,
            "at": self.at.isoformat(),
        }
