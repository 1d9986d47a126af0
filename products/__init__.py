"""What leaves the domain: output review (出域审核), signed release packages, and the
data products (数据产品) listed from them."""

from products.listing import get_product, list_product, list_products
from products.package import PackageVerification, build_package, verify_package
from products.records import Product, Release, Review
from products.release import get_release, release_job, release_of
from products.review import review, review_queue, reviews_of

__all__ = [
    "PackageVerification",
    "Product",
    "Release",
    "Review",
    "build_package",
    "get_product",
    "get_release",
    "list_product",
    "list_products",
    "release_job",
    "release_of",
    "review",
    "review_queue",
    "reviews_of",
    "verify_package",
]
