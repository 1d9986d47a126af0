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
    # a package that does not verify (products.package.verify_package)
    "release_signature": Wording("manifest signature does not verify with this public key"),
    "release_manifest_not_json": Wording("manifest.json is not valid JSON"),
    "release_manifest_not_object": Wording("manifest.json is not a JSON object"),
    "release_manifest_not_canonical": Wording("manifest.json is not in canonical (RFC 8785) form"),
    "release_manifest_format": Wording("manifest format is {found!r}, expected {expected!r}"),
    "release_manifest_algorithm": Wording("manifest signature_alg is not {algorithm!r}"),
    "release_manifest_files": Wording("manifest 'files' is not a map of {{sha256, bytes}}"),
    "release_manifest_missing": Wording("manifest.json or manifest.sig is missing"),
    "release_manifest_large": Wording("manifest.json is implausibly large"),
    "release_file_missing": Wording("file {name!r} is listed in the manifest but missing"),
    "release_file_unlisted": Wording("file {name!r} is in the package but not in the manifest"),
    "release_file_size": Wording("file {name!r} has {size} bytes, manifest says {listed}"),
    "release_file_digest": Wording("file {name!r} does not match its SHA-256 in the manifest"),
    "release_file_compressed": Wording("file {name!r} is compressed; release packages store files"),
    "release_file_twice": Wording("file {name!r} appears more than once"),
    "release_not_canonical": Wording(
        "package bytes differ from the canonical form of its signed contents"
    ),
    "release_unreadable": Wording("cannot read package: {detail}"),
    "release_not_package": Wording("not a readable release package: {detail}"),
    # an output that differences one released since it was gated (products.release):
    # the gate's finding, said of the row it names
    "differencing": Wording(
        "row {row}, table " + PROBLEMS["differencing"], SUGGESTIONS["differencing"]
    ),
}


def reason(rule: str, **figures: Any) -> Reason:
    """The products package's reason for `rule`, worded from its figures."""
    return worded(REASONS, rule, **figures)
