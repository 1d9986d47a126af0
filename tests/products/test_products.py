"""Data products: cost-plus pricing with a capped margin and buyer tiers, filings to the
regulator, verifiable provenance, usage records and the disclosure report."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from audit_log import AuditEntry
from core.errors import Conflict, InvalidInput, LicenseInvalid, NotFound
from jobs.runner import run
from jobs.submit import submit_sql
from operators.accounts import get_user
from operators.licenses import revoke_license
from operators.lifecycle import suspend_license
from products.filings import list_filings
from products.listing import list_product, list_products, reprice_product, withdraw_product
from products.pricing import MAX_MARGIN, PricingBasis, price_for
from products.provenance import verify_provenance
from products.records import Product, Release
from products.release import release_of
from products.review import review
from products.usage import (
    current_period,
    disclosure_report,
    parse_period,
    record_spending,
    record_usage,
    report_csv,
)
from tests.conftest import AUTHORITY, World

QUERY = "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district"
BASIS = PricingBasis(costs={"compute": 600.0, "labour": 400.0}, margin=0.05, sme_discount=0.4)


@pytest.mark.parametrize(
    ("basis", "tiers"),
    [
        (BASIS, {"public_interest": 0.0, "sme": 630.0, "commercial": 1050.0}),
        (
            PricingBasis(costs={"other": 100.0}, margin=0.0, public_interest_discount=0.5),
            {"public_interest": 50.0, "sme": 70.0, "commercial": 100.0},
        ),
        (PricingBasis(costs={}, margin=0.0), {"public_interest": 0, "sme": 0, "commercial": 0}),
    ],
    ids=["free public interest", "discounted public interest", "no cost"],
)
def test_cost_plus_tiers(basis: PricingBasis, tiers: dict[str, float]) -> None:
    assert basis.validate().tiers() == tiers
    assert price_for(basis.to_dict(), "sme") == tiers["sme"]


@pytest.mark.parametrize(
    ("basis", "rule"),
    [
        (PricingBasis(costs={"compute": 10.0}, margin=MAX_MARGIN + 0.01), "margin_cap"),
        (PricingBasis(costs={"compute": -1.0}), "cost_negative"),
        (PricingBasis(costs={"marketing": 5.0}), "cost_item"),
        (PricingBasis(costs={"compute": 1.0}, public_interest_discount=0.0), "public_interest"),
        (
            PricingBasis(costs={"compute": 1.0}, sme_discount=0.5, public_interest_discount=0.2),
            "public_interest",
        ),
        (PricingBasis(costs={"compute": 1.0}, sme_discount=1.5), "discount_range"),
        (PricingBasis(costs={"compute": float("nan")}), "cost_negative"),
    ],
    ids=[
        "margin over cap",
        "negative cost",
        "unknown item",
        "public pays full",
        "public pays more than SME",
        "discount over 100%",
        "nan cost",
    ],
)
def test_pricing_rules_refuse_with_reasons(basis: PricingBasis, rule: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        basis.validate()
    assert rule in {r.rule for r in raised.value.reasons}


def test_unknown_buyer_type_is_refused() -> None:
    with pytest.raises(InvalidInput, match="buyer type"):
        price_for(BASIS.to_dict(), "friend")


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026", date(2026, 1, 1), date(2027, 1, 1)),
        ("2026-Q4", date(2026, 10, 1), date(2027, 1, 1)),
        ("2026-02", date(2026, 2, 1), date(2026, 3, 1)),
    ],
)
def test_periods(text: str, start: date, end: date) -> None:
    assert parse_period(text) == (start, end)


@pytest.mark.parametrize("text", ["26", "2026-13", "2026-Q5", "1999", "2026-1", "x"])
def test_bad_periods(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_period(text)


def _released(world: World) -> int:
    settings = world.domain.settings.job_settings()
    with world.domain.transaction() as session:
        job_id = submit_sql(session, world.license_id, world.operator, QUERY, settings).id
    run(world.domain.sessions, world.domain.home, job_id, settings)
    with world.domain.transaction() as session:
        review(session, world.domain.home, job_id, get_user(session, "wang"), "approve", "ok")
        release = release_of(session, job_id)
        assert release is not None
        return release.id


def _listed(world: World, release_id: int, **options: object) -> Product:
    with world.domain.transaction() as session:
        return list_product(
            session,
            release_id,
            world.operator,
            "镇海区企业分布",
            "enterprises per district",
            "招商选址",
            pricing=BASIS,
            usage_scope="internal analysis only; no resale",
            update_cycle="monthly",
            home=world.domain.home,
            **options,  # type: ignore[arg-type]
        )


@pytest.mark.sandbox
def test_listing_files_with_the_regulator_and_provenance_verifies(world: World) -> None:
    product = _listed(world, _released(world))
    assert product.price_yuan == 1050.0 and product.pricing["tiers"]["public_interest"] == 0
    assert product.term_until is not None and product.usage_scope.startswith("internal")
    with world.domain.transaction() as session:
        filings = list_filings(session)
        assert [f.kind for f in filings] == ["listing"]
        entry = session.get(AuditEntry, filings[0].audit_seq)
        assert entry.action == "product.filed"
        assert entry.details["pricing"]["margin"] == 0.05 and entry.details["usage_scope"]
        checks = verify_provenance(session, world.domain.home, session.get(Product, product.id))
    assert {c.check for c in checks} == {
        "package_signature",
        "package_digest",
        "manifest_matches_listing",
        "reviews",
        "audit_position",
    }
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert product.provenance["reviews"][0]["reviewer"] == "wang"
    assert product.provenance["signature_alg"] == "Ed25519"


@pytest.mark.sandbox
def test_tampering_is_caught_by_the_provenance_checks(world: World) -> None:
    product = _listed(world, _released(world))
    with world.domain.transaction() as session:
        release = session.get(Release, product.release_id)
        package = world.domain.home.root / release.package_path
        package.write_bytes(package.read_bytes()[:-5] + b"xxxxx")
        stored = session.get(Product, product.id)
        stored.provenance = {**stored.provenance, "reviewers": ["someone-else"]}
    with world.domain.transaction() as session:
        failed = {
            c.check
            for c in verify_provenance(session, world.domain.home, session.get(Product, product.id))
            if not c.ok
        }
    assert {"package_signature", "package_digest", "manifest_matches_listing", "reviews"} <= failed


@pytest.mark.sandbox
def test_listing_is_refused_for_others_and_bad_terms(world: World) -> None:
    release_id = _released(world)
    with pytest.raises(NotFound), world.domain.transaction() as session:
        list_product(session, release_id, world.outsider, "stolen")
    far = date.today() + timedelta(days=365 * 5)
    with pytest.raises(InvalidInput, match="outlive"):
        _listed(world, release_id, term_until=far)
    with pytest.raises(InvalidInput, match="margin"), world.domain.transaction() as session:
        list_product(
            session,
            release_id,
            world.operator,
            "greedy",
            pricing=PricingBasis(costs={"compute": 1.0}, margin=0.5),
        )
    with world.domain.transaction() as session:
        suspend_license(session, world.license_id, AUTHORITY, "investigation")
    with pytest.raises(LicenseInvalid):
        _listed(world, release_id)
    with world.domain.transaction() as session:
        assert list_products(session) == []


@pytest.mark.sandbox
def test_repricing_and_withdrawal_are_filed(world: World) -> None:
    product = _listed(world, _released(world))
    cheaper = PricingBasis(costs={"compute": 500.0}, margin=0.02)
    with world.domain.transaction() as session:
        with pytest.raises(NotFound):
            reprice_product(session, product.id, world.outsider, cheaper)
        assert reprice_product(session, product.id, world.operator, cheaper).price_yuan == 510.0
    with world.domain.transaction() as session:
        with pytest.raises(InvalidInput):
            withdraw_product(session, product.id, world.operator, "")
        withdraw_product(session, product.id, world.operator, "data superseded")
    with world.domain.transaction() as session:
        assert [f.kind for f in list_filings(session)] == ["withdrawal", "repricing", "listing"]
        assert list_products(session, listed_only=True) == []
        with pytest.raises(Conflict):
            record_usage(session, product.id, world.operator, "bank", "commercial")


@pytest.mark.sandbox
def test_disclosure_report_adds_up_to_the_recorded_usage(world: World) -> None:
    product = _listed(world, _released(world))
    sales = [
        ("宁波银行", "commercial", 2),
        ("某小微企业", "sme", 3),
        ("市统计局", "public_interest", 5),
    ]
    with world.domain.transaction() as session:
        for buyer, kind, quantity in sales:
            record_usage(session, product.id, world.operator, buyer, kind, quantity)
        record_spending(session, product.id, world.operator, "compute", 300.0, "cloud bill")
        with pytest.raises(NotFound):
            record_usage(session, product.id, world.outsider, "x", "commercial")
        with pytest.raises(InvalidInput):
            record_usage(session, product.id, world.operator, "x", "commercial", 0)
    with world.domain.transaction() as session:
        report = disclosure_report(session, current_period())
        shown = report.to_dict()
        text = report_csv(report)
    expected_income = 2 * 1050.0 + 3 * 630.0 + 5 * 0.0
    assert shown["totals"] == {
        "uses": 10,
        "income": expected_income,
        "spending": 300.0,
        "net": expected_income - 300.0,
    }
    assert shown["products"][0]["income"] == {
        "public_interest": 0.0,
        "sme": 1890.0,
        "commercial": 2100.0,
    }
    rows = list(csv.DictReader(io.StringIO(text)))
    income_rows = [r for r in rows if r["kind"] == "income"]
    assert sum(float(r["amount_yuan"]) for r in income_rows) == expected_income
    assert sum(int(r["quantity"]) for r in income_rows) == 10
    assert "宁波银行" not in text  # buyers are kept for the regulator, not published
    totals = {r["kind"]: float(r["amount_yuan"]) for r in rows if r["kind"].startswith("total")}
    assert totals == {"total_income": expected_income, "total_spending": 300.0}
    with world.domain.transaction() as session:
        last_year = disclosure_report(session, str(date.today().year - 1)).to_dict()
    assert last_year["totals"]["uses"] == 0


@pytest.mark.sandbox
def test_revoked_license_products_cannot_be_listed(world: World) -> None:
    release_id = _released(world)
    with world.domain.transaction() as session:
        revoke_license(session, world.license_id, AUTHORITY, "breach")
    with pytest.raises(LicenseInvalid, match="revoked"):
        _listed(world, release_id)
    with world.domain.transaction() as session:
        assert session.scalars(select(Product)).all() == []
