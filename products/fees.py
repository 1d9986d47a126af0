"""Fees under the 2025 pricing rules (发改价格〔2025〕65号): ceilings, fee models, and
the maximum allowed revenue per period.

Public-governance and public-interest use (公共治理、公益事业) is free. Otherwise the
authority sets a ceiling price (最高限价) per product and the operator prices at or
under it. The revenue a product may earn in a period is capped at cost + allowed
profit + tax; revenue above the cap is recorded and deducted from the next period's
cap. A fee is charged per product, per call, per period or per volume.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from audit_log import AuditAction, append
from core.db import Base, utcnow
from core.errors import Conflict, InvalidInput, PermissionDenied
from operators.accounts import Principal
from products.filings import file_notice
from products.listing import get_product
from products.pricing import DEFAULT_TAX_RATE, FEE_MODELS, MAX_MARGIN
from products.reasons import reason
from products.records import Product
from products.usage import SpendingRecord, UsageRecord, parse_period


class PriceCeiling(Base):
    """The authority's ceiling price for one product under one fee model."""

    __tablename__ = "price_ceilings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), nullable=False, index=True)
    fee_model: Mapped[str] = mapped_column(String(20), nullable=False)
    ceiling_yuan: Mapped[float] = mapped_column(Float, nullable=False)
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)
    set_by: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RevenueSettlement(Base):
    """One product's revenue against its allowed maximum in one period."""

    __tablename__ = "revenue_settlements"
    __table_args__ = (UniqueConstraint("product_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), nullable=False, index=True)
    period: Mapped[str] = mapped_column(String(7), nullable=False)
    period_start: Mapped[date] = mapped_column(Date, nullable=False)
    cost: Mapped[float] = mapped_column(Float, nullable=False)
    profit: Mapped[float] = mapped_column(Float, nullable=False)
    tax: Mapped[float] = mapped_column(Float, nullable=False)
    carried_in: Mapped[float] = mapped_column(Float, nullable=False)
    allowed_max: Mapped[float] = mapped_column(Float, nullable=False)
    revenue: Mapped[float] = mapped_column(Float, nullable=False)
    excess: Mapped[float] = mapped_column(Float, nullable=False)
    settled_by: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "period": self.period,
            "cost": self.cost,
            "profit": self.profit,
            "tax": self.tax,
            "carried_in": self.carried_in,
            "allowed_max": self.allowed_max,
            "revenue": self.revenue,
            "excess": self.excess,
        }


@dataclass(frozen=True)
class Allowance:
    """The maximum revenue of a period: cost + profit + tax, less last period's excess."""

    cost: float
    profit: float
    tax: float
    carried_in: float

    @property
    def allowed_max(self) -> float:
        return round(max(0.0, self.cost + self.profit + self.tax - self.carried_in), 2)

    def excess(self, revenue: float) -> float:
        return round(max(0.0, revenue - self.allowed_max), 2)


def allowance(cost: float, margin: float, tax_rate: float, carried_in: float = 0.0) -> Allowance:
    if not 0 <= margin <= MAX_MARGIN:
        raise InvalidInput.coded("fee_margin_range", max_margin=MAX_MARGIN, margin=margin)
    if not 0 <= tax_rate < 1:
        raise InvalidInput.coded("fee_tax_rate_range", tax_rate=tax_rate)
    profit = round(cost * margin, 2)
    return Allowance(cost, profit, round((cost + profit) * tax_rate, 2), carried_in)


def _check_model(fee_model: str) -> None:
    if fee_model not in FEE_MODELS:
        raise InvalidInput.coded("fee_model_unknown", models=", ".join(FEE_MODELS))


def ceiling_of(session: Session, product_id: int, fee_model: str) -> PriceCeiling | None:
    query = select(PriceCeiling).where(
        PriceCeiling.product_id == product_id, PriceCeiling.fee_model == fee_model
    )
    return session.scalar(query.order_by(PriceCeiling.id.desc()).limit(1))


def set_ceiling(
    session: Session,
    product_id: int,
    user: Principal,
    fee_model: str,
    ceiling_yuan: float,
    note: str = "",
) -> PriceCeiling:
    """The authority sets (or lowers, or raises) a product's ceiling price; filed."""
    if user.role not in ("authority", "admin"):
        raise PermissionDenied.coded("ceiling_role")
    _check_model(fee_model)
    if not 0 <= ceiling_yuan <= 1e9:
        raise InvalidInput.coded("ceiling_range", ceiling_yuan=ceiling_yuan)
    product = get_product(session, product_id)
    ceiling = PriceCeiling(
        product_id=product.id,
        fee_model=fee_model,
        ceiling_yuan=round(ceiling_yuan, 2),
        note=note,
        set_by=user.name,
    )
    session.add(ceiling)
    product.pricing = {
        **product.pricing,
        "ceiling": {"fee_model": fee_model, "ceiling_yuan": ceiling.ceiling_yuan},
    }
    session.flush()
    details = {"fee_model": fee_model, "ceiling_yuan": ceiling.ceiling_yuan, "note": note}
    append(session, user.actor, AuditAction.PRODUCT_CEILING_SET, f"product:{product.id}", details)
    file_notice(session, product, "ceiling", user.actor, note)
    return ceiling


def set_fee(
    session: Session,
    product_id: int,
    user: Principal,
    fee_model: str,
    price_yuan: float,
    note: str = "",
) -> Product:
    """The operator prices a product at or under its ceiling; a price above it is refused."""
    product = get_product(session, product_id)
    if user.role != "admin" and (
        user.role != "operator" or user.operator_id != product.operator_id
    ):
        raise PermissionDenied.coded("fee_owner")
    _check_model(fee_model)
    if not 0 <= price_yuan <= 1e9:
        raise InvalidInput.coded("price_range", price_yuan=price_yuan)
    ceiling = ceiling_of(session, product.id, fee_model)
    if price_yuan > 0 and ceiling is None:
        missing = InvalidInput.coded("price_no_ceiling", product_id=product.id, fee_model=fee_model)
        raise replace(missing, reasons=[reason("ceiling_missing", fee_model=fee_model)])
    if ceiling is not None and price_yuan > ceiling.ceiling_yuan:
        above = InvalidInput.coded(
            "price_above_ceiling", price_yuan=price_yuan, ceiling_yuan=ceiling.ceiling_yuan
        )
        rule = reason("ceiling_exceeded", price=price_yuan, ceiling=ceiling.ceiling_yuan)
        raise replace(above, reasons=[rule])
    price = round(price_yuan, 2)
    fee: dict[str, Any] = {"model": fee_model, "price_yuan": price}
    product.pricing = {**product.pricing, "fee": fee}
    product.price_yuan = price
    product.updated_at = utcnow()
    append(session, user.actor, AuditAction.PRODUCT_FEE_SET, f"product:{product.id}", fee)
    file_notice(session, product, "repricing", user.actor, note)
    return product


def _bounds(period: str) -> tuple[date, datetime, datetime]:
    start, end = parse_period(period)
    return start, datetime.combine(start, time()), datetime.combine(end, time())


def settle_period(
    session: Session,
    product_id: int,
    period: str,
    user: Principal,
    tax_rate: float = DEFAULT_TAX_RATE,
) -> RevenueSettlement:
    """Compare a period's revenue with its allowed maximum, carrying last period's excess
    in as a deduction and this period's excess on to the next."""
    if user.role not in ("authority", "admin", "regulator", "operator"):
        raise PermissionDenied.coded("fee_settle_role")
    product = get_product(session, product_id)
    if user.role == "operator" and user.operator_id != product.operator_id:
        raise PermissionDenied.coded("fee_settle_owner")
    start, since, until = _bounds(period)
    if session.scalar(
        select(RevenueSettlement).where(
            RevenueSettlement.product_id == product.id, RevenueSettlement.period == period
        )
    ):
        raise Conflict.coded("fee_settled_already", product_id=product.id, period=period)
    previous = session.scalar(
        select(RevenueSettlement)
        .where(RevenueSettlement.product_id == product.id, RevenueSettlement.period_start < start)
        .order_by(RevenueSettlement.period_start.desc())
        .limit(1)
    )
    cost = _sum(session, SpendingRecord, product.id, since, until)
    revenue = _sum(session, UsageRecord, product.id, since, until)
    carried = previous.excess if previous is not None else 0.0
    allowed = allowance(cost, float(product.pricing.get("margin", 0.0)), tax_rate, carried)
    settlement = RevenueSettlement(
        product_id=product.id,
        period=period,
        period_start=start,
        cost=cost,
        profit=allowed.profit,
        tax=allowed.tax,
        carried_in=carried,
        allowed_max=allowed.allowed_max,
        revenue=revenue,
        excess=allowed.excess(revenue),
        settled_by=user.name,
    )
    session.add(settlement)
    session.flush()
    append(
        session,
        user.actor,
        AuditAction.REVENUE_SETTLED,
        f"product:{product.id}",
        settlement.to_dict(),
    )
    return settlement


def _sum(
    session: Session,
    table: type[SpendingRecord] | type[UsageRecord],
    product_id: int,
    since: datetime,
    until: datetime,
) -> float:
    total = session.scalar(
        select(func.coalesce(func.sum(table.amount), 0.0)).where(
            table.product_id == product_id, table.at >= since, table.at < until
        )
    )
    return round(float(total or 0.0), 2)
