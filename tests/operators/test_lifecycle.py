"""The license lifecycle: apply, approve (narrowed), refuse, suspend, reinstate, revoke,
expire; every step audited; stops take effect for queued and running jobs."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from audit_log import AuditEntry
from core.errors import Conflict, InvalidInput, LicenseInvalid, PermissionDenied
from jobs.queries import get_job
from jobs.runner import run
from jobs.submit import submit_sql
from operators.accounts import get_operator
from operators.licenses import license_stop_reason, revoke_license, usable_license
from operators.lifecycle import (
    apply_for_license,
    approve_license,
    expire_licenses,
    refuse_license,
    reinstate_license,
    suspend_license,
)
from operators.records import License
from tests.conftest import AUTHORITY, World, run_cli

IN_A_MONTH = date.today() + timedelta(days=30)
QUERY = "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district"


def _apply(world: World, **changes: object) -> int:
    options: dict[str, object] = {
        "datasets": ["enterprise_utilities", "social_insurance"],
        "max_level": "L3",
        "purpose": "SME credit assessment",
        "scenario": "普惠金融 inclusive lending",
        "valid_until": IN_A_MONTH,
        "epsilon": 8.0,
        **changes,
    }
    with world.domain.transaction() as session:
        company = get_operator(session, "甬城数据运营有限公司")
        record = apply_for_license(
            session,
            operator_id=company.id,
            actor=world.operator.actor,
            **options,  # type: ignore[arg-type]
        )
        return record.id


def _actions(world: World, license_id: int) -> list[str]:
    with world.domain.transaction() as session:
        query = select(AuditEntry.action).where(AuditEntry.subject == f"license:{license_id}")
        return list(session.scalars(query.order_by(AuditEntry.seq)))


def test_application_is_pending_until_approved_narrowed(world: World) -> None:
    license_id = _apply(world)
    with world.domain.transaction() as session:
        with pytest.raises(LicenseInvalid, match="pending"):
            usable_license(session, license_id)
    with world.domain.transaction() as session:
        record = approve_license(
            session,
            license_id,
            AUTHORITY,
            datasets=["enterprise_utilities"],
            max_level="L2",
            epsilon=4.0,
            row_filters={"enterprise_utilities": "district = '镇海区'"},
            note="L3 not needed for the scenario",
        )
        shown = record.to_dict()
    assert shown["status"] == "active" and shown["datasets"] == ["enterprise_utilities"]
    assert shown["max_level"] == "L2" and shown["epsilon_total"] == 4.0
    assert shown["row_filters"] == {"enterprise_utilities": "district = '镇海区'"}
    assert shown["requested"]["max_level"] == "L3" and shown["scenario"].startswith("普惠")
    assert _actions(world, license_id) == ["license.applied", "license.approved"]
    with world.domain.transaction() as session:
        approved = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "license.approved")
        ).one()
        narrowed = set(approved.details["narrowed"])
        assert narrowed >= {"datasets", "max_level", "epsilon", "row_filters"}
        assert usable_license(session, license_id).id == license_id


@pytest.mark.parametrize(
    "changes",
    [
        {"datasets": ["enterprise_utilities", "no_such"]},
        {"max_level": "L4"},
        {"valid_until": IN_A_MONTH + timedelta(days=1)},
        {"epsilon": 9.0},
        {"row_filters": {"enterprise_utilities": "no_such_column = 1"}},
        {"row_filters": {"social_insurance": "district = '镇海区'"}},
        {"datasets": ["social_insurance"], "row_filters": {"enterprise_utilities": "TRUE"}},
        {"row_filters": {"enterprise_utilities": ""}},
    ],
    ids=[
        "extra dataset",
        "higher level",
        "longer term",
        "more epsilon",
        "bad filter",
        "column of another dataset",
        "dataset narrowed away",
        "empty filter",
    ],
)
def test_approval_may_narrow_but_never_widen(world: World, changes) -> None:
    license_id = _apply(world)
    with pytest.raises(InvalidInput), world.domain.transaction() as session:
        approve_license(session, license_id, AUTHORITY, **changes)
    with world.domain.transaction() as session:
        assert session.get(License, license_id).status == "pending"


def test_approval_adds_or_tightens_filters_and_never_removes_one(world: World) -> None:
    applied = {"enterprise_utilities": "district = '镇海区'"}
    license_id = _apply(world, row_filters=applied)
    with world.domain.transaction() as session:
        assert session.get(License, license_id).to_dict()["requested"]["row_filters"] == applied
        record = approve_license(
            session,
            license_id,
            AUTHORITY,
            row_filters={
                "enterprise_utilities": "1 = 1",  # an attempt to take the filter off
                "social_insurance": "insured_staff >= 10",
            },
        )
        granted = record.to_dict()["row_filters"]
    assert granted == {
        "enterprise_utilities": "district = '镇海区' AND 1 = 1",
        "social_insurance": "insured_staff >= 10",
    }
    loose = {"enterprise_utilities": "district = '镇海区' OR 1 = 1"}
    tighter = _apply(world, row_filters=loose)
    with world.domain.transaction() as session:
        record = approve_license(
            session, tighter, AUTHORITY, row_filters={"enterprise_utilities": "industry = '制造业'"}
        )
        assert record.row_filters == {
            "enterprise_utilities": "(district = '镇海区' OR 1 = 1) AND industry = '制造业'"
        }
    as_filed = _apply(world, row_filters=applied)
    with world.domain.transaction() as session:
        assert approve_license(session, as_filed, AUTHORITY).row_filters == applied


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"scenario": " "}, "scenario"),
        ({"datasets": []}, "at least one"),
        ({"max_level": "L4"}, "L4"),
        ({"valid_until": date.today()}, "future"),
        ({"epsilon": 0.0}, "positive"),
        ({"valid_from": IN_A_MONTH + timedelta(days=2)}, "starts after"),
    ],
    ids=["no scenario", "no dataset", "L4", "past term", "zero budget", "inverted term"],
)
def test_bad_applications_are_refused(world: World, changes, match) -> None:
    with pytest.raises(InvalidInput, match=match):
        _apply(world, **changes)


def test_only_the_authority_decides(world: World) -> None:
    license_id = _apply(world)
    with pytest.raises(PermissionDenied), world.domain.transaction() as session:
        approve_license(session, license_id, world.operator.actor)


def test_refusal_needs_a_reason_and_is_final(world: World) -> None:
    license_id = _apply(world)
    with pytest.raises(InvalidInput), world.domain.transaction() as session:
        refuse_license(session, license_id, AUTHORITY, " ")
    with world.domain.transaction() as session:
        refuse_license(session, license_id, AUTHORITY, "scenario not in the catalogue")
    with pytest.raises(Conflict), world.domain.transaction() as session:
        approve_license(session, license_id, AUTHORITY)
    assert _actions(world, license_id) == ["license.applied", "license.refused"]


def test_suspend_reinstate_revoke(world: World) -> None:
    license_id = world.license_id
    with world.domain.transaction() as session:
        suspend_license(session, license_id, AUTHORITY, "complaint under investigation")
    with world.domain.transaction() as session:
        assert "suspended" in (license_stop_reason(session, license_id) or "")
        with pytest.raises(Conflict):
            suspend_license(session, license_id, AUTHORITY, "again")
    with world.domain.transaction() as session:
        reinstate_license(session, license_id, AUTHORITY, "cleared")
        assert license_stop_reason(session, license_id) is None
    with world.domain.transaction() as session:
        revoke_license(session, license_id, AUTHORITY, "breach")
    with pytest.raises(Conflict), world.domain.transaction() as session:
        reinstate_license(session, license_id, AUTHORITY)
    assert _actions(world, license_id)[-3:] == [
        "license.suspended",
        "license.reinstated",
        "license.revoked",
    ]


def test_expiry_is_recorded_and_refuses_use(world: World) -> None:
    with world.domain.transaction() as session:
        record = session.get(License, world.license_id)
        record.valid_until = date.today() - timedelta(days=1)
        assert record.to_dict()["status"] == "expired"
    with world.domain.transaction() as session:
        assert expire_licenses(session, AUTHORITY) == [world.license_id]
        assert expire_licenses(session, AUTHORITY) == []
    with world.domain.transaction() as session:
        assert "expired" in (license_stop_reason(session, world.license_id) or "")
    assert _actions(world, world.license_id)[-1] == "license.expired"


def test_a_term_not_yet_started_refuses_use(world: World) -> None:
    license_id = _apply(world, valid_from=date.today() + timedelta(days=3))
    with world.domain.transaction() as session:
        approve_license(session, license_id, AUTHORITY)
    with world.domain.transaction() as session:
        with pytest.raises(LicenseInvalid, match="in force from"):
            usable_license(session, license_id)


@pytest.mark.parametrize("stop", ["suspend", "revoke", "expire"])
def test_a_stop_takes_effect_for_queued_jobs(world: World, stop: str) -> None:
    settings = world.domain.settings.job_settings()
    with world.domain.transaction() as session:
        job_id = submit_sql(session, world.license_id, world.operator, QUERY, settings).id
    with world.domain.transaction() as session:
        if stop == "suspend":
            suspend_license(session, world.license_id, AUTHORITY, "investigation")
        elif stop == "revoke":
            revoke_license(session, world.license_id, AUTHORITY, "breach")
        else:
            session.get(License, world.license_id).valid_until = date.today() - timedelta(days=1)
    job = run(world.domain.sessions, world.domain.home, job_id, settings)
    assert job.status == "failed"
    with world.domain.transaction() as session:
        assert get_job(session, job_id).started_at is None  # it never ran


@pytest.mark.slow
def test_the_lifecycle_from_the_command_line(world: World) -> None:
    home = world.domain.home.root
    applied = run_cli(
        "licenses",
        "apply",
        "--operator",
        "甬城数据运营有限公司",
        "--dataset",
        "enterprise_utilities",
        "--max-level",
        "L2",
        "--purpose",
        "statistics",
        "--scenario",
        "招商",
        "--until",
        IN_A_MONTH.isoformat(),
        "--json",
        home=home,
        check=True,
    )
    license_id = json.loads(applied.stdout)["id"]
    widened = run_cli("licenses", "approve", str(license_id), "--epsilon", "99", home=home)
    assert widened.returncode == 2 and "raised" in widened.stderr
    unnamed = run_cli(
        "licenses", "approve", str(license_id), "--row-filter", "district = 'x'", home=home
    )
    assert unnamed.returncode == 2 and "which dataset" in unnamed.stderr
    approved = run_cli(
        "licenses",
        "approve",
        str(license_id),
        "--max-level",
        "L1",
        "--row-filter",
        "enterprise_utilities:district = '镇海区'",
        "--json",
        home=home,
        check=True,
    )
    filters = {"enterprise_utilities": "district = '镇海区'"}
    assert json.loads(approved.stdout)["row_filters"] == filters
    run_cli("licenses", "suspend", str(license_id), "--reason", "audit", home=home, check=True)
    shown = run_cli("licenses", "show", str(license_id), "--json", home=home, check=True)
    assert json.loads(shown.stdout)["status"] == "suspended"
    assert json.loads(shown.stdout)["max_level"] == "L1"
    report = run_cli("products", "report", "--period", "2026-Q9", home=home)
    assert report.returncode == 2 and "period" in report.stderr
