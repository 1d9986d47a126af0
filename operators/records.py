"""Tables for operating companies (授权运营单位), users, API tokens and licenses."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
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

from core.db import Base, EnumText, utcnow

# A licence's δ budget unless granted otherwise: ten releases whose keys go through
# partition selection at its default δ = 1e-6 (policies/partitions.py)
DEFAULT_DELTA = 1e-5


class Operator(Base):
    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created_at": self.created_at.isoformat()}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Argon2id, for console login; None: this user logs in with a token only
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # a one-time login code's Argon2id hash and expiry (operators.login_codes); cleared on use
    login_code_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    login_code_expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "operator_id": self.operator_id,
        }


class ApiToken(Base):
    """Only the SHA-256 of a token is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class TokenUse(Base):
    """How often a token was used in one hour; becomes one `token.used` entry when it ends."""

    __tablename__ = "token_use"
    __table_args__ = (UniqueConstraint("token_id", "period_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"), nullable=False)
    period_start: Mapped[datetime] = mapped_column(DateTime, nullable=False, index=True)
    uses: Mapped[int] = mapped_column(Integer, nullable=False)
    first_used: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    last_used: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class LicenseStatus(StrEnum):
    """Where a license is in its life (see `operators.lifecycle`); stored as the plain value."""

    PENDING = "pending"  # applied for, not yet decided
    REFUSED = "refused"
    ACTIVE = "active"
    SUSPENDED = "suspended"  # stopped for now; may be reinstated
    REVOKED = "revoked"  # withdrawn for good
    EXPIRED = "expired"  # its term passed

    @property
    def in_term(self) -> bool:
        """Whether the term still runs: only these statuses turn into `expired` when it ends."""
        return self in (LicenseStatus.ACTIVE, LicenseStatus.SUSPENDED)


class License(Base):
    """A license (授权) or an application for one (status `pending`).

    `datasets`, `max_level`, `valid_until`, `epsilon_total` and `row_filters` hold what
    is granted (what was asked, while pending); `requested` keeps the application as
    filed, so a narrowed grant can be compared with it. `row_filters` maps a dataset to
    the predicate (行范围) its rows must meet; a dataset not in it is read whole.
    """

    __tablename__ = "licenses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), nullable=False)
    datasets: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    max_level: Mapped[str] = mapped_column(String(2), nullable=False)
    purpose: Mapped[str] = mapped_column(Text, nullable=False)
    valid_until: Mapped[date] = mapped_column(Date, nullable=False)
    row_filters: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, nullable=False)
    epsilon_total: Mapped[float] = mapped_column(Float, nullable=False)
    epsilon_spent: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    # δ composes by addition too: each DP release with key selection spends its δ
    delta_total: Mapped[float] = mapped_column(Float, default=DEFAULT_DELTA, nullable=False)
    delta_spent: Mapped[float] = mapped_column(Float, default=0.0, nullable=False)
    status: Mapped[LicenseStatus] = mapped_column(
        EnumText(LicenseStatus), default=LicenseStatus.ACTIVE, nullable=False
    )
    granted_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    scenario: Mapped[str] = mapped_column(Text, default="", nullable=False)
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    requested: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    applied_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    decision_note: Mapped[str] = mapped_column(Text, default="", nullable=False)

    def effective_status(self, today: date | None = None) -> LicenseStatus:
        """The stored status, or `expired` once the term has passed."""
        today = today or date.today()
        if self.status.in_term and self.valid_until < today:
            return LicenseStatus.EXPIRED
        return self.status

    def to_dict(self, operator_name: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "operator_id": self.operator_id,
            "operator": operator_name,
            "datasets": list(self.datasets),
            "max_level": self.max_level,
            "purpose": self.purpose,
            "scenario": self.scenario,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_until": self.valid_until.isoformat(),
            "row_filters": dict(sorted((self.row_filters or {}).items())),
            "epsilon_total": self.epsilon_total,
            "epsilon_spent": round(self.epsilon_spent, 6),
            "epsilon_remaining": round(self.epsilon_total - self.epsilon_spent, 6),
            "delta_total": self.delta_total,
            "delta_spent": self.delta_spent,
            "delta_remaining": max(0.0, self.delta_total - self.delta_spent),
            "status": self.effective_status(),
            "requested": self.requested,
            "applied_by": self.applied_by,
            "granted_by": self.granted_by or None,
            "decision_note": self.decision_note,
        }


class LoginFailure(Base):
    """One wrong password or one-time code typed for a name (operators.lockout); kept by
    name, not by user, so names that do not exist are locked out alike."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(DateTime, nullable=False, index=True)
