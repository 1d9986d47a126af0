"""Cost-plus pricing (成本加合理利润) of data products, tiered by who buys.

After the 2025 national notice on pricing public-data operation services: a price
covers the operator's costs plus a reasonable margin that is capped (a benchmark
rate plus at most six points); public governance and public-interest use
(公共治理、公益事业) is free or discounted, small and micro enterprises (中小微企业)
get a discount, commercial use pays the full price. Pure functions only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import InvalidInput, Reason
from products.reasons import reason

BUYER_TYPES = ("public_interest", "sme", "commercial")
COST_ITEMS = ("data_processing", "compute", "storage", "labour", "other")
# 10-year treasury yield (about 2%) plus the notice's six-point ceiling.
MAX_MARGIN = 0.08
DEFAULT_SME_DISCOUNT = 0.3
UNIT = "yuan per licence of use (每次授权使用)"
FEE_MODELS = ("per_product", "per_call", "per_period", "per_volume")
FREE_USE = "public_interest"  # public governance and public-interest use (公共治理、公益事业)
METERED = ("per_call", "per_volume")  # charged on each call; the others are billed
DEFAULT_TAX_RATE = 0.06  # VAT on modern services, part of a period's revenue cap


@dataclass(frozen=True)
class PricingBasis:
    """What a price rests on: itemized costs per unit sold, a margin and tier discounts."""

    costs: Mapping[str, float]
    margin: float = 0.0
    sme_discount: float = DEFAULT_SME_DISCOUNT
    public_interest_discount: float = 1.0  # 1.0: free
    margin_cap: float = field(default=MAX_MARGIN, compare=False)

    @property
    def cost(self) -> float:
        return round(sum(self.costs.values()), 2)

    def problems(self) -> list[Reason]:
        """Every way this basis breaks the pricing rules (empty when it is acceptable)."""
        found: list[Reason] = []
        for item, amount in self.costs.items():
            if item not in COST_ITEMS:
                found.append(reason("cost_item", item=item, items=", ".join(COST_ITEMS)))
            elif not amount >= 0:
                found.append(reason("cost_negative", item=item, amount=amount))
        if not 0 <= self.margin <= self.margin_cap:
            found.append(reason("margin_cap", margin=self.margin, cap=self.margin_cap))
        for name, value in (
            ("sme_discount", self.sme_discount),
            ("public_interest_discount", self.public_interest_discount),
        ):
            if not 0 <= value <= 1:
                found.append(reason("discount_range", name=name, value=value))
        if self.public_interest_discount < max(self.sme_discount, 0.0) or not (
            self.public_interest_discount > 0
        ):
            found.append(reason("public_interest"))
        return found

    def validate(self) -> PricingBasis:
        found = self.problems()
        if found:
            details = "; ".join(r.message for r in found)
            raise InvalidInput(f"the pricing basis breaks the cost-plus rules: {details}", found)
        return self

    def tiers(self) -> dict[str, float]:
        commercial = round(self.cost * (1 + self.margin), 2)
        return {
            "public_interest": round(commercial * (1 - self.public_interest_discount), 2),
            "sme": round(commercial * (1 - self.sme_discount), 2),
            "commercial": commercial,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "costs": {k: float(v) for k, v in self.costs.items()},
            "cost_yuan": self.cost,
            "margin": self.margin,
            "margin_cap": self.margin_cap,
            "sme_discount": self.sme_discount,
            "public_interest_discount": self.public_interest_discount,
            "tiers": self.tiers(),
            "unit": UNIT,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PricingBasis:
        return cls(
            costs=dict(data.get("costs", {})),
            margin=float(data.get("margin", 0.0)),
            sme_discount=float(data.get("sme_discount", DEFAULT_SME_DISCOUNT)),
            public_interest_discount=float(data.get("public_interest_discount", 1.0)),
        )


def price_for(pricing: Mapping[str, Any], buyer_type: str) -> float:
    """The unit price a buyer of this type pays under a stored pricing record."""
    if buyer_type not in BUYER_TYPES:
        raise InvalidInput.coded(
            "buyer_type_unknown", buyer_type=buyer_type, types=", ".join(BUYER_TYPES)
        )
    return float(pricing["tiers"][buyer_type])


def fee_for(
    pricing: Mapping[str, Any], buyer_type: str, quantity: int = 1, metered: bool = False
) -> tuple[float, float]:
    """(unit price, amount) under a product's fee (2025 rules, see `products.fees`).

    Public use is free. A metered use (an interface call) is charged only under a
    per-call or per-volume fee; a use the operator records is charged under any fee.
    """
    if buyer_type not in BUYER_TYPES:
        raise InvalidInput.coded("buyer_type_invalid", buyer_type=buyer_type)
    fee = pricing.get("fee")
    if buyer_type == FREE_USE or not fee or (metered and fee["model"] not in METERED):
        return 0.0, 0.0
    unit = float(fee["price_yuan"])
    if buyer_type == "sme":
        unit = round(unit * (1 - float(pricing.get("sme_discount", 0.0))), 2)
    return unit, round(unit * quantity, 2)
