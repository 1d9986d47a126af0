"""Usage and revenue per product, spending against it, and the public disclosure
report of income and spending (收支明细) for a period.

Income comes only from recorded uses, priced at the tier in force when recorded;
the report is a sum over those records, so it always adds up to them.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from audit_log import AuditAction, append
from core.db import Base, utcnow
from core.errors import Conflict, InvalidInput, PermissionDenied
from operators.accounts import Principal
from operators.records import Operator
from products.listing import get_product, product_not_found
from products.pricing import BUYER_TYPES, COST_ITEMS, fee_for, price_for
from products.records import Product


class UsageRecord(Base):
    __tablename__ = "product_usage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), nullable=False, index=True)
    buyer: Mapped[str] = mapped_column(String(200), nullable=False)
    buyer_type: Mapped[str] = mapped_column(String(20), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    unit_price: Mapped[float] = mapped_column(Float, nullable=False)
    amount: Mapped[float] = mapped_column(Float, nullable=False)
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "product_id": self.product_id,
            "buyer": self.buyer,
            "buyer_type": self.buyer_type,
            "quantity": self.quantity,
            "unit_price": self.unit_price,
            "amount": self.amount,
            "note": self.note,
            "at": self.at.isoformat(),
        }


class SpendingRecord(Base):
    __tablename__ = "product_spending"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), nullable=False, index=True)
    category: Mapped[str] = mapped_column(String(40), nullable=False)
    amount: Mapped[float] = mapped_column(Float, nullable=False)
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "product_id": self.product_id,
            "category": self.category,
            "amount": self.amount,
            "note": self.note,
            "at": self.at.isoformat(),
        }


def _owned(session: Session, product_id: int, user: Principal) -> Product:
    product = get_product(session, product_id)
    if user.role not in ("admin", "operator"):
        raise PermissionDenied.coded("usage_owner")
    if user.role == "operator" and user.operator_id != product.operator_id:
        raise product_not_found(product_id)  # exactly like a product that does not exist
    return product


def record_usage(
    session: Session,
    product_id: int,
    user: Principal,
    buyer: str,
    buyer_type: str,
    quantity: int = 1,
    note: str = "",
) -> UsageRecord:
    """One sale or use, priced at the buyer type's current tier."""
    product = _owned(session, product_id, user)
    if product.status != "listed":
        raise Conflict.coded("product_not_sellable", product_id=product_id, status=product.status)
    if not buyer.strip():
        raise InvalidInput.coded("usage_buyer_missing")
    if not 1 <= quantity <= 1_000_000:
        raise InvalidInput.coded("usage_quantity_range", quantity=quantity)
    if "fee" in product.pricing:  # the 2025 rules: a fee at or under the ceiling
        unit, amount = fee_for(product.pricing, buyer_type, quantity)
    elif "ceiling" in product.pricing:
        raise Conflict.coded("usage_no_fee", product_id=product_id)
    else:  # cost-plus tiers
        unit = price_for(product.pricing, buyer_type)
        amount = round(unit * quantity, 2)
    record = UsageRecord(
        product_id=product.id,
        buyer=buyer.strip(),
        buyer_type=buyer_type,
        quantity=quantity,
        unit_price=unit,
        amount=amount,
        note=note,
        recorded_by=user.name,
    )
    session.add(record)
    session.flush()
    append(
        session,
        user.actor,
        AuditAction.PRODUCT_USED,
        f"product:{product.id}",
        {
            "usage": record.id,
            "buyer_type": buyer_type,
            "quantity": quantity,
            "amount": record.amount,
        },
    )
    return record


def record_spending(
    session: Session, product_id: int, user: Principal, category: str, amount: float, note: str = ""
) -> SpendingRecord:
    product = _owned(session, product_id, user)
    if category not in COST_ITEMS:
        raise InvalidInput.coded(
            "usage_spending_category", category=category, categories=", ".join(COST_ITEMS)
        )
    if not 0 < amount <= 1e12:
        raise InvalidInput.coded("usage_amount_positive", amount=amount)
    record = SpendingRecord(
        product_id=product.id,
        category=category,
        amount=round(amount, 2),
        note=note,
        recorded_by=user.name,
    )
    session.add(record)
    session.flush()
    append(
        session,
        user.actor,
        AuditAction.PRODUCT_SPENDING,
        f"product:{product.id}",
        {"spending": record.id, "category": category, "amount": record.amount},
    )
    return record


def parse_period(text: str) -> tuple[date, date]:
    """`2026`, `2026-Q3` or `2026-07` as [first day, day after the last)."""
    match = re.fullmatch(r"(\d{4})(?:-(?:Q([1-4])|(\d{2})))?", text.strip())
    if (
        not match
        or not 2000 <= int(match[1]) <= 2999
        or (match[3] and not 1 <= int(match[3]) <= 12)
    ):
        raise InvalidInput.coded("usage_period_form", period=text)
    year = int(match[1])
    if match[2]:
        first = date(year, 3 * int(match[2]) - 2, 1)
        months = 3
    elif match[3]:
        first, months = date(year, int(match[3]), 1), 1
    else:
        first, months = date(year, 1, 1), 12
    month = first.month - 1 + months
    return first, date(year + month // 12, month % 12 + 1, 1)


def current_period(today: date | None = None) -> str:
    today = today or date.today()
    return f"{today.year}-Q{(today.month - 1) // 3 + 1}"


@dataclass
class DisclosureRow:
    product_id: int
    product: str
    operator: str
    uses: int = 0
    income: dict[str, float] = field(default_factory=lambda: dict.fromkeys(BUYER_TYPES, 0.0))
    spending: float = 0.0

    @property
    def total_income(self) -> float:
        return round(sum(self.income.values()), 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "product": self.product,
            "operator": self.operator,
            "uses": self.uses,
            "income": {k: round(v, 2) for k, v in self.income.items()},
            "total_income": self.total_income,
            "spending": round(self.spending, 2),
            "net": round(self.total_income - self.spending, 2),
        }


@dataclass
class DisclosureReport:
    period: str
    start: date
    end: date
    rows: list[DisclosureRow]
    items: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        income = round(sum(r.total_income for r in self.rows), 2)
        spending = round(sum(r.spending for r in self.rows), 2)
        return {
            "period": self.period,
            "start": self.start.isoformat(),
            "end": (self.end - timedelta(days=1)).isoformat(),
            "products": [r.to_dict() for r in self.rows],
            "totals": {
                "uses": sum(r.uses for r in self.rows),
                "income": income,
                "spending": spending,
                "net": round(income - spending, 2),
            },
        }


def disclosure_report(session: Session, period: str) -> DisclosureReport:
    """Income and spending per product in a period, from the records alone (no buyers named)."""
    start, end = parse_period(period)
    since, until = datetime.combine(start, time()), datetime.combine(end, time())
    names = {k: v for k, v in session.execute(select(Operator.id, Operator.name))}
    rows: dict[int, DisclosureRow] = {}
    for product in session.scalars(select(Product).order_by(Product.id)):
        rows[product.id] = DisclosureRow(product.id, product.name, names[product.operator_id])
    items: list[dict[str, Any]] = []
    uses = select(UsageRecord).where(UsageRecord.at >= since, UsageRecord.at < until)
    for use in session.scalars(uses.order_by(UsageRecord.id)):
        row = rows[use.product_id]
        row.uses += use.quantity
        row.income[use.buyer_type] += use.amount
        items.append(_item(row, "income", use.buyer_type, use.quantity, use.amount, use.at))
    spent = select(SpendingRecord).where(SpendingRecord.at >= since, SpendingRecord.at < until)
    for cost in session.scalars(spent.order_by(SpendingRecord.id)):
        row = rows[cost.product_id]
        row.spending += cost.amount
        items.append(_item(row, "spending", cost.category, 1, cost.amount, cost.at))
    active = [r for r in rows.values() if r.uses or r.spending]
    return DisclosureReport(period, start, end, active, items)


def _item(
    row: DisclosureRow, kind: str, category: str, quantity: int, amount: float, at: datetime
) -> dict[str, Any]:
    return {
        "date": at.date().isoformat(),
        "product_id": row.product_id,
        "product": row.product,
        "operator": row.operator,
        "kind": kind,
        "category": category,
        "quantity": quantity,
        "amount_yuan": f"{amount:.2f}",
    }


CSV_COLUMNS = ("date", "product_id", "product", "operator", "kind", "category", "quantity")


def report_csv(report: DisclosureReport) -> str:
    """Every income and spending line of the period, then one total line per kind."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, "amount_yuan"])
    for item in report.items:
        writer.writerow([item[c] for c in CSV_COLUMNS] + [item["amount_yuan"]])
    totals = report.to_dict()["totals"]
    for kind in ("income", "spending"):
        writer.writerow([report.period, "", "", "", f"total_{kind}", "", "", f"{totals[kind]:.2f}"])
    return out.getvalue()
