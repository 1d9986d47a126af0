"""Alerts: each rule as a pure function, then firing inside `append` and through real jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from audit_log import Actor, AuditEntry, EntryFilter, append, list_alerts
from audit_log.alerts import (
    Alert,
    Event,
    budget_high,
    license_term,
    near_identical_query,
    over_limits,
    repeated_denials,
)
from audit_log.chain import record_failed_verification
from service.domain import Domain
from tests.audit_log.conftest import open_log_domain
from tests.conftest import World

NOW = datetime(2026, 6, 1, 12, 0)
SQL = (
    "SELECT district, COUNT(*) AS n FROM enterprise_utilities WHERE capital > {} GROUP BY district"
)


@dataclass
class FakeHistory:
    denials: int = 0
    earlier: Event | None = None
    alerted_terms: set[str] = field(default_factory=set)

    def count_since(self, action: str, operator_id: int, since: datetime, before: int) -> int:
        return self.denials

    def previous(self, action: str, operator_id: int, before: int) -> Event | None:
        return self.earlier

    def alerted(self, rule: str, license_id: int, term: str) -> bool:
        return term in self.alerted_terms


def event(action: str, **details: Any) -> Event:
    return Event(9, NOW, action, "job:9", details, 1, 2)


def submitted(sql: str | None, until: date | None = None) -> Event:
    valid_until = (until or NOW.date() + timedelta(days=100)).isoformat()
    return event("job.submitted", rewritten_sql=sql, license_valid_until=valid_until)


RULE_CASES: dict[str, tuple[Any, Event, FakeHistory, str | None]] = {
    "5th denial in an hour": (
        repeated_denials,
        event("job.denied"),
        FakeHistory(denials=4),
        "repeated_denials",
    ),
    "4th denial": (repeated_denials, event("job.denied"), FakeHistory(denials=3), None),
    "one literal changed": (
        near_identical_query,
        submitted(SQL.format(1001)),
        FakeHistory(earlier=submitted(SQL.format(1000))),
        "near_identical_query",
    ),
    "same query again": (
        near_identical_query,
        submitted(SQL.format(1000)),
        FakeHistory(earlier=submitted(SQL.format(1000))),
        None,
    ),
    "different shape": (
        near_identical_query,
        submitted(SQL.format(1001).replace("COUNT(*)", "SUM(capital)")),
        FakeHistory(earlier=submitted(SQL.format(1000))),
        None,
    ),
    "earlier query denied": (
        near_identical_query,
        submitted(SQL.format(1001)),
        FakeHistory(earlier=submitted(None)),
        None,
    ),
    "budget crosses 80%": (
        budget_high,
        event("budget.charged", epsilon=1.0, spent=8.5, total=10.0),
        FakeHistory(),
        "budget_high",
    ),
    "budget already past 80%": (
        budget_high,
        event("budget.charged", epsilon=1.0, spent=9.5, total=10.0),
        FakeHistory(),
        None,
    ),
    "budget below 80%": (
        budget_high,
        event("budget.charged", epsilon=1.0, spent=8.0, total=10.0),
        FakeHistory(),
        None,
    ),
    "job over a limit": (
        over_limits,
        event("job.failed", failure="limit:wall_seconds"),
        FakeHistory(),
        "over_limits",
    ),
    "job failed otherwise": (
        over_limits,
        event("job.failed", failure="the sandbox produced no result"),
        FakeHistory(),
        None,
    ),
    "license ends in 14 days": (
        license_term,
        submitted("SELECT 1", NOW.date() + timedelta(days=14)),
        FakeHistory(),
        "license_term",
    ),
    "license ended": (
        license_term,
        submitted("SELECT 1", NOW.date() - timedelta(days=1)),
        FakeHistory(alerted_terms={"near"}),
        "license_term",
    ),
    "license near, already alerted": (
        license_term,
        submitted("SELECT 1", NOW.date() + timedelta(days=3)),
        FakeHistory(alerted_terms={"near"}),
        None,
    ),
    "license far from its term": (
        license_term,
        submitted("SELECT 1", NOW.date() + timedelta(days=15)),
        FakeHistory(),
        None,
    ),
}


@pytest.mark.parametrize("case", RULE_CASES, ids=list(RULE_CASES))
def test_rules(case: str) -> None:
    rule, entry, history, expected = RULE_CASES[case]
    alert: Alert | None = rule(entry, history)
    assert (alert.rule if alert else None) == expected
    if alert:
        assert alert.details["operator_id"] == 1 and alert.details["license"] == 2


@pytest.fixture
def log_domain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Domain:
    return open_log_domain(tmp_path, monkeypatch)


def _alerts(domain: Domain, rule: str | None = None) -> list[AuditEntry]:
    with domain.transaction() as session:
        return list_alerts(session, EntryFilter(action=rule))


OPERATOR = Actor("li", "operator")


def test_alerts_fire_inside_append_once_per_pattern(log_domain: Domain) -> None:
    soon = (date.today() + timedelta(days=5)).isoformat()
    with log_domain.transaction() as session:
        for n in range(5):
            append(session, OPERATOR, "job.denied", f"job:{n}", {"operator_id": 1, "license": 2})
        for n, literal in enumerate((1000, 1001), start=10):
            details = {"operator_id": 1, "license": 2, "rewritten_sql": SQL.format(literal)}
            append(
                session,
                OPERATOR,
                "job.submitted",
                f"job:{n}",
                {**details, "license_valid_until": soon},
            )
        budget = {"job": "11", "epsilon": 1.0, "spent": 8.5, "total": 10.0}
        append(session, OPERATOR, "budget.charged", "license:2", budget)
        append(session, Actor.system(), "job.failed", "job:11", {"failure": "limit:memory_mb"})
        append(session, Actor.system(), "alert.value_scan_hit", "job:11", {"license": 2})
    rules = [a.action for a in _alerts(log_domain)]
    assert sorted(rules) == [
        "alert.budget_high",
        "alert.license_term",
        "alert.near_identical_query",
        "alert.over_limits",
        "alert.repeated_denials",
        "alert.value_scan_hit",
    ]
    failed = _alerts(log_domain, "over_limits")[0]
    assert failed.operator_id == 1 and failed.license_id == 2  # inherited from job:11


def test_alert_entries_are_never_ruled_on(log_domain: Domain) -> None:
    with log_domain.transaction() as session:
        append(session, Actor.system(), "alert.over_limits", "job:1", {"failure": "limit:x"})
        count = len(session.scalars(select(AuditEntry)).all())
    assert count == 2  # domain.initialized and the alert itself


def test_a_failed_verification_raises_one_alert_per_finding(log_domain: Domain) -> None:
    with log_domain.transaction() as session:
        assert record_failed_verification(session, 3, "entry content does not match", "live")
        assert record_failed_verification(session, 3, "entry content does not match", "api") is None
        assert record_failed_verification(session, 4, "link broken", "live")
    assert len(_alerts(log_domain, "verification_failed")) == 2


def _submit(world: World, sql: str) -> str:
    from jobs.submit import submit_sql

    with world.domain.transaction() as session:
        settings = world.domain.settings.job_settings()
        return submit_sql(session, world.license_id, world.operator, sql, settings).status


def test_real_jobs_raise_denial_and_differencing_alerts(world: World) -> None:
    for _ in range(5):
        assert _submit(world, "SELECT phone FROM enterprise_utilities") == "denied"
    assert _submit(world, SQL.format(1000)) != "denied"
    assert _submit(world, SQL.format(1001)) != "denied"
    alerts = {a.action: a for a in _alerts(world.domain)}
    assert set(alerts) == {"alert.repeated_denials", "alert.near_identical_query"}
    assert alerts["alert.repeated_denials"].operator_id == world.operator.operator_id
    assert alerts["alert.near_identical_query"].details["literal_after"] == "1001"


def test_a_query_parsed_once_compares_as_the_later_and_then_the_earlier() -> None:
    """Each query's parse is kept for the next comparison; keeping it changes no answer."""
    from audit_log.similar import LiteralChange, one_filter_literal_changed

    first, second, third = (SQL.format(n) for n in (1000, 1001, 1002))
    assert one_filter_literal_changed(first, second) == LiteralChange("1000", "1001")
    assert one_filter_literal_changed(second, third) == LiteralChange("1001", "1002")
    assert one_filter_literal_changed(third, first) == LiteralChange("1002", "1000")
    assert one_filter_literal_changed(third, third) is None
    shape = SQL.format(1000).replace("COUNT(*)", "SUM(capital)")
    assert one_filter_literal_changed(second, shape) is None


def test_a_filter_the_rewrite_reads_twice_changes_once() -> None:
    """The private core scans the operator's filter for its figures and again for the
    populations: the same literal changed in both copies is one change; two different
    literals changed are not."""
    from audit_log.similar import LiteralChange, one_filter_literal_changed

    twice = (
        "WITH a AS (SELECT * FROM t WHERE capital > {0}), b AS (SELECT * FROM t WHERE "
        "capital > {0}) SELECT COUNT(*) FROM a, b WHERE a.k = {1}"
    )
    first, second = twice.format(1000, 5), twice.format(1001, 5)
    assert one_filter_literal_changed(first, second) == LiteralChange("1000", "1001")
    assert one_filter_literal_changed(first, twice.format(1001, 6)) is None
