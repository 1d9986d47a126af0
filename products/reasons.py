"""Every reason the products package gives (pricing, ceilings, templates), by code: its
English wording and the figures it is made from, so the console can word it in zh-CN.

The codes share one namespace with the policy engine's (`policies.reasons.REASONS`); a
test keeps them apart.
"""

from __future__ import annotations

from typing import Any

from core.errors import Reason
from gate.findings import PROBLEMS, SUGGESTIONS
from policies.reasons import Wording, worded

__all__ = ["REASONS", "reason"]

REASONS: dict[str, Wording] = {
    "ceiling_missing": Wording(
        "the authority sets a ceiling price for {fee_model} before a product is charged for",
        "ask the data authority to set a ceiling price, or offer it free",
    ),
    "ceiling_exceeded": Wording(
        "price {price:.2f} yuan is above the authority's ceiling of {ceiling:.2f} yuan",
        "price at or under {ceiling:.2f} yuan",
    ),
    "cost_item": Wording("unknown cost item {item!r}", "cost items are: {items}"),
    "cost_negative": Wording(
        "cost {item} must be zero or more, not {amount}", "give a cost of zero or more"
    ),
    "margin_cap": Wording(
        "margin {margin:.2%} is outside 0 to {cap:.2%}",
        "a reasonable margin is capped; lower it or document the costs",
    ),
    "discount_range": Wording(
        "{name} must be between 0 and 1, not {value}", "give a share between 0 and 1"
    ),
    "public_interest": Wording(
        "public-interest use must be free or discounted at least as much as SMEs",
        "set public_interest_discount to 1 (free) or ≥ sme_discount",
    ),
    "template_parameter": Wording(
        "parameter {name!r} must name an L1 column with declared categories, not {source}",
        "only declared public values may be parameters",
    ),
    # release packages and their encryption (products.package, products.crypto)
    "release_cipher": Wording("use one of {ciphers}"),
    "release_name_absolute": Wording(
        "unsafe file name {name!r}: empty, absolute or with a backslash"
    ),
    "release_name_segment": Wording(
        "unsafe file name {name!r}: drive letter, '..', '.' or empty segment"
    ),
    "release_name_reserved": Wording("{name!r} is reserved for the package itself"),
    "release_key_reserved": Wording("manifest key {key!r} is set by the package"),
    "release_package_exists": Wording(
        "packages are immutable", "write the new release to a new path"
    ),
    "release_manifest_json": Wording(
        "{detail}",
        "use only strings, integers in the I-JSON range, finite floats, lists and "
        "string-keyed objects",
    ),
    # an output that differences one released since it was gated (products.release):
    # the gate's finding, said of the row it names
    "differencing": Wording(
        "row {row}, table " + PROBLEMS["differencing"], SUGGESTIONS["differencing"]
    ),
}


def reason(rule: str, **figures: Any) -> Reason:
    """The products package's reason for `rule`, worded from its figures."""
    return worded(REASONS, rule, **figures)
