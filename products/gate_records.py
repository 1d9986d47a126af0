"""Tables of the output gate's settings: per-dataset disclosure rules, operators' keys.

Imported by `products.records`, so every table of the package registers together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow

__all__ = ["DatasetDisclosure", "OperatorKey"]


class DatasetDisclosure(Base):
    """Disclosure rules for outputs over one dataset, refining the domain's rules."""

    __tablename__ = "dataset_disclosure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    allow_weaker: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    set_by: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "rules": dict(self.rules),
            "allow_weaker": list(self.allow_weaker),
            "set_by": self.set_by,
            "at": self.at.isoformat(),
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
