"""Data products (数据产品), their provenance checks, usage, filings and the public
disclosure report, as the API shows them."""

from __future__ import annotations

from typing import Any

from service.schemas import Number, Out

__all__ = [
    "DisclosureOut",
    "FilingOut",
    "ProductOut",
    "ProvenanceOut",
    "SignedManifestOut",
    "SpendingOut",
    "UsageOut",
]


class ProductOut(Out):
    """A listed (or withdrawn) product; `pricing` is its cost-plus basis and price tiers,
    `provenance` the job, datasets, reviews and audit position behind it."""

    id: int
    kind: str
    name: str
    description: str
    scenario: str
    usage_scope: str
    term_until: str | None
    update_cycle: str
    price_yuan: Number
    pricing: dict[str, Any]
    status: str
    operator_id: int
    release_id: int
    provenance: dict[str, Any]
    listed_at: str
    updated_at: str | None


class ProvenanceCheckOut(Out):
    check: str
    ok: bool
    detail: str
    figures: dict[str, Any] | None = None  # what `detail` is made from, for other languages


class ProvenanceOut(Out):
    """Every provenance check rerun now, and whether all passed."""

    ok: bool
    checks: list[ProvenanceCheckOut]


class SignedManifestOut(Out):
    """The release's manifest and signature as stored in its package, to verify offline."""

    manifest_b64: str
    manifest_sha256: str
    signature_b64: str
    signature_alg: str
    public_key_pem: str


class UsageOut(Out):
    id: int
    product_id: int
    buyer: str
    buyer_type: str
    quantity: int
    unit_price: Number
    amount: Number
    note: str
    at: str


class SpendingOut(Out):
    id: int
    product_id: int
    category: str
    amount: Number
    note: str
    at: str


class FilingOut(Out):
    """A filing (告知) to the regulator: a listing, repricing or withdrawal."""

    id: int
    product_id: int
    operator_id: int
    kind: str
    pricing: dict[str, Any]
    scenario: str
    usage_scope: str
    note: str
    filed_by: str
    audit_seq: int
    at: str


class DisclosureRowOut(Out):
    product_id: int
    product: str
    operator: str
    uses: int
    income: dict[str, Number]
    total_income: Number
    spending: Number
    net: Number


class DisclosureTotalsOut(Out):
    uses: int
    income: Number
    spending: Number
    net: Number


class DisclosureOut(Out):
    """Income and spending (收支明细) per product in a period; no buyer is named."""

    period: str
    start: str
    end: str
    products: list[DisclosureRowOut]
    totals: DisclosureTotalsOut
