"""Tables for interface products (数据分析接口): the interface, its buyers' keys, the data
subjects' consents (授权), and every call, metered and audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class Interface(Base):
    """An approved artefact served inside the domain: a SQL template or a DP model.

    `definition` holds the template and its declared parameters, or the model's
    feature map and the output it may return (see `products.interfaces`).
    """

    __tablename__ = "interfaces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), nullable=False, index=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), nullable=False)
    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # template | scoring
    purpose: Mapped[str] = mapped_column(Text, nullable=False)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    epsilon_per_call: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    status: Mapped[str] = mapped_column(String(20), default="active", nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "product_id": self.product_id,
            "operator_id": self.operator_id,
            "kind": self.kind,
            "purpose": self.purpose,
            "definition": self.definition,
            "epsilon_per_call": self.epsilon_per_call,
            "status": self.status,
            "at": self.at.isoformat(),
        }


class InterfaceKey(Base):
    """A buyer's key for one interface: only its SHA-256 is kept."""

    __tablename__ = "interface_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    interface_id: Mapped[int] = mapped_column(
        ForeignKey("interfaces.id"), nullable=False, index=True
    )
    buyer: Mapped[str] = mapped_column(String(200), nullable=False)
    buyer_type: Mapped[str] = mapped_column(String(20), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    calls_per_minute: Mapped[int] = mapped_column(Integer, nullable=False)
    epsilon_total: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    epsilon_spent: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    issued_by: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "interface_id": self.interface_id,
            "buyer": self.buyer,
            "buyer_type": self.buyer_type,
            "calls_per_minute": self.calls_per_minute,
            "epsilon_total": self.epsilon_total,
            "epsilon_spent": self.epsilon_spent,
            "active": self.active,
            "at": self.at.isoformat(),
        }


class Consent(Base):
    """A data subject's consent (授权) to one buyer scoring them through one interface,
    for one purpose, until a time; the subject is kept only as its domain pseudonym."""

    __tablename__ = "interface_consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    interface_id: Mapped[int] = mapped_column(
        ForeignKey("interfaces.id"), nullable=False, index=True
    )
    key_id: Mapped[int] = mapped_column(ForeignKey("interface_keys.id"), nullable=False)
    subject: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    purpose: Mapped[str] = mapped_column(Text, nullable=False)
    valid_until: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    evidence: Mapped[str] = mapped_column(Text, default="", nullable=False)
    status: Mapped[str] = mapped_column(String(20), default="active", nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(200), nullable=False)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "interface_id": self.interface_id,
            "key_id": self.key_id,
            "subject": self.subject,
            "purpose": self.purpose,
            "valid_until": self.valid_until.isoformat(),
            "evidence": self.evidence,
            "status": self.status,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "at": self.at.isoformat(),
        }


class InterfaceCall(Base):
    """One call: answered, refused (with why) or blocked by the gate; with its fee."""

    __tablename__ = "interface_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    interface_id: Mapped[int] = mapped_column(
        ForeignKey("interfaces.id"), nullable=False, index=True
    )
    key_id: Mapped[int | None] = mapped_column(ForeignKey("interface_keys.id"), nullable=True)
    consent_id: Mapped[int | None] = mapped_column(
        ForeignKey("interface_consents.id"), nullable=True
    )
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)  # answered|refused|blocked
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    epsilon: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    fee_yuan: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "interface_id": self.interface_id,
            "key_id": self.key_id,
            "consent_id": self.consent_id,
            "job_id": self.job_id,
            "outcome": self.outcome,
            "reason": self.reason,
            "epsilon": self.epsilon,
            "fee_yuan": self.fee_yuan,
            "at": self.at.isoformat(),
        }
