"""2025 pricing rules (ceilings, fee models, allowed revenue carried over) and the signed
annual disclosure that adds up to the records."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import select

from audit_log import AuditEntry
from core.errors import Conflict, InvalidInput, PermissionDenied
from operators.accounts import HOST_ADMIN, Principal
from products.annual import annual_report, publish_annual_report, signed_file, verify_report
from products.fees import allowance, set_ceiling, set_fee, settle_period
from products.listing import list_product
from products.pricing import PricingBasis, fee_for
from products.release import release_of
from products.usage import SpendingRecord, UsageRecord, record_spending, record_usage
from service.web.i18n import translator
from service.web.wording import error_words
from tests.conftest import World
from tests.products.conftest import L1_QUERY, decide, ran

AUTHORITY_USER = Principal("bureau", "authority")


def _product(world: World, margin: float = 0.05) -> int:
    job_id = ran(world, L1_QUERY)
    assert decide(world, job_id, "wang") == "released"
    with world.domain.transaction() as session:
        release = release_of(session, job_id)
        assert release is not None
        basis = PricingBasis(costs={"compute": 100.0}, margin=margin)
        return list_product(session, release.id, world.operator, "企业用水统计", pricing=basis).id


def test_allowance_is_cost_profit_and_tax_less_what_was_carried() -> None:
    first = allowance(1000.0, 0.08, 0.06)
    assert (first.profit, first.tax, first.allowed_max) == (80.0, 64.8, 1144.8)
    assert first.excess(1500.0) == 355.2
    second = allowance(1000.0, 0.08, 0.06, carried_in=355.2)
    assert second.allowed_max == 789.6
    with pytest.raises(InvalidInput):
        allowance(1000.0, 0.2, 0.06)  # profit above the cap


def test_a_refused_margin_or_buyer_type_reads_in_chinese_in_full() -> None:
    zh = translator("zh-CN")
    with pytest.raises(InvalidInput) as margin:
        allowance(1000.0, 0.2, 0.06)
    assert margin.value.message == "allowed profit margin must be 0 to 8%, not 0.2"
    assert error_words(margin.value, zh).message == (
        "输入有误：允许的利润率必须在 0 至 8% 之间，收到 0.2"
    )
    with pytest.raises(InvalidInput) as buyer:
        fee_for({}, "charity")
    assert error_words(buyer.value, zh).message == "输入有误：未知的购买方类型 'charity'"


def test_public_use_is_free_and_fees_follow_the_model() -> None:
    pricing = {"fee": {"model": "per_call", "price_yuan": 2.0}, "sme_discount": 0.5}
    assert fee_for(pricing, "public_interest", 10) == (0.0, 0.0)
    assert fee_for(pricing, "commercial", 10) == (2.0, 20.0)
    assert fee_for(pricing, "sme", 10) == (1.0, 10.0)
    per_period = {"fee": {"model": "per_period", "price_yuan": 500.0}}
    assert fee_for(per_period, "commercial", metered=True) == (0.0, 0.0)  # not per call
    assert fee_for(per_period, "commercial") == (500.0, 500.0)  # billed for the period


@pytest.mark.sandbox
def test_price_above_the_ceiling_is_refused(world: World) -> None:
    product_id = _product(world)
    with world.domain.transaction() as session:
        with pytest.raises(InvalidInput, match="no ceiling"):
            set_fee(session, product_id, world.operator, "per_call", 1.0)
        with pytest.raises(PermissionDenied):
            set_ceiling(session, product_id, world.operator, "per_call", 100.0)
        set_ceiling(session, product_id, AUTHORITY_USER, "per_call", 5.0, "cost survey 2026")
    with world.domain.transaction() as session:
        with pytest.raises(InvalidInput, match="above the ceiling") as refused:
            set_fee(session, product_id, world.operator, "per_call", 5.01)
        assert refused.value.reasons[0].rule == "ceiling_exceeded"
    with world.domain.transaction() as session:
        with pytest.raises(Conflict, match="no fee"):  # the cost-plus tiers no longer apply
            record_usage(session, product_id, world.operator, "bank", "commercial")
    with world.domain.transaction() as session:
        product = set_fee(session, product_id, world.operator, "per_call", 5.0)
        assert product.pricing["fee"] == {"model": "per_call", "price_yuan": 5.0}
        used = record_usage(session, product_id, world.operator, "bank", "commercial", 3)
        assert (used.unit_price, used.amount) == (5.0, 15.0)
        actions = [e.action for e in session.scalars(select(AuditEntry))]
    assert "product.ceiling_set" in actions and "product.fee_set" in actions


@pytest.mark.sandbox
def test_revenue_over_the_maximum_is_carried_into_the_next_period(world: World) -> None:
    product_id = _product(world, margin=0.05)
    with world.domain.transaction() as session:
        record_spending(session, product_id, world.operator, "compute", 1000.0)
        for _ in range(3):
            record_usage(session, product_id, world.operator, "bank", "commercial", quantity=4)
        # 3 × 4 × 105 = 1260 yuan of sales and 1000 of costs, dated into 2026-Q1
        for record in [
            *session.scalars(select(UsageRecord)),
            *session.scalars(select(SpendingRecord)),
        ]:
            record.at = datetime(2026, 2, 1)
    with world.domain.transaction() as session:
        q1 = settle_period(session, product_id, "2026-Q1", HOST_ADMIN, tax_rate=0.06)
        # allowed: 1000 cost + 50 profit + 63 tax = 1113; revenue 1260; excess 147
        assert (q1.allowed_max, q1.revenue, q1.excess) == (1113.0, 1260.0, 147.0)
        q2 = settle_period(session, product_id, "2026-Q2", HOST_ADMIN, tax_rate=0.06)
        assert q2.carried_in == 147.0 and q2.allowed_max == 0.0  # no Q2 costs: all deducted
        settled = [e for e in session.scalars(select(AuditEntry)) if e.action == "revenue.settled"]
    assert [e.details["excess"] for e in settled] == [147.0, 0.0]


@pytest.mark.sandbox
def test_annual_report_adds_up_to_the_records_and_verifies(world: World) -> None:
    product_id = _product(world)
    year = datetime.now().year
    with world.domain.transaction() as session:
        record_usage(session, product_id, world.operator, "bank", "commercial", quantity=2)
        record_usage(session, product_id, world.operator, "county office", "public_interest")
        record_usage(session, product_id, world.operator, "workshop", "sme", quantity=3)
        expected = sum(u.amount for u in session.scalars(select(UsageRecord)))
        report = annual_report(session, year)
        record = publish_annual_report(session, world.domain.home, year, HOST_ADMIN)
        data = signed_file(record)
    assert report["totals"]["fees_yuan"] == round(expected, 2)
    assert report["totals"]["uses"] == 6
    [fees] = report["fees"]
    assert fees["by_buyer_type"]["public_interest"] == 0.0
    assert report["totals"]["authorisations"] == 1 and report["resources"] == sorted(
        report["authorisations"][0]["datasets"]
    )
    assert report["due"] == f"{year + 1}-03-31"
    assert {"zh-CN", "en"} <= set(report["labels"])

    public = world.domain.home.public_key()
    assert verify_report(data, public) == []
    for position in (len(data) // 3, len(data) // 2, len(data) - 5):
        flipped = bytearray(data)
        flipped[position] ^= 0x01
        assert verify_report(bytes(flipped), public) != []
    changed = json.loads(data)
    changed["document"]["totals"]["fees_yuan"] += 1
    assert verify_report(json.dumps(changed).encode(), public) != []
    with world.domain.transaction() as session:
        filed = [
            e for e in session.scalars(select(AuditEntry)) if e.action == "disclosure.annual_filed"
        ]
    assert filed[0].details["sha256"] == record.sha256

    from fastapi.testclient import TestClient

    from service.api import create_app

    console = TestClient(create_app(world.domain.settings))
    page = console.get("/market/disclosure")
    assert page.status_code == 200 and f'id="annual-fees">{expected:.1f}' in page.text
    published = console.get(f"/market/disclosure/annual/{year}.json")
    assert verify_report(published.content, public) == []
