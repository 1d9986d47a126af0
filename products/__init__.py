"""What leaves the domain: output review (出域审核), signed release packages, and the
data products (数据产品) listed from them."""

from typing import TYPE_CHECKING

from core.lazy import lazy_exports

if TYPE_CHECKING:
    from products.crypto import generate_operator_key, open_package, seal
    from products.filings import Filing, list_filings
    from products.listing import (
        get_product,
        list_product,
        list_products,
        reprice_product,
        withdraw_product,
    )
    from products.package import PackageVerification, build_package, verify_package
    from products.pricing import PricingBasis, price_for
    from products.provenance import verify_provenance
    from products.recipients import register_key
    from products.records import Product, Release, Review
    from products.release import get_release, list_releases, release_job, release_of
    from products.review import review, review_queue, reviews_of
    from products.review_view import queue_items, review_view
    from products.usage import (
        SpendingRecord,
        UsageRecord,
        disclosure_report,
        record_spending,
        record_usage,
        report_csv,
    )

__getattr__ = lazy_exports(__name__, __file__, shared=("review", "review_view"))

__all__ = [
    "Filing",
    "PackageVerification",
    "PricingBasis",
    "Product",
    "Release",
    "Review",
    "SpendingRecord",
    "UsageRecord",
    "build_package",
    "disclosure_report",
    "generate_operator_key",
    "get_product",
    "get_release",
    "list_filings",
    "list_product",
    "list_products",
    "list_releases",
    "open_package",
    "price_for",
    "queue_items",
    "record_spending",
    "record_usage",
    "register_key",
    "release_job",
    "release_of",
    "report_csv",
    "reprice_product",
    "review",
    "review_queue",
    "review_view",
    "reviews_of",
    "seal",
    "verify_package",
    "verify_provenance",
    "withdraw_product",
]
