"""Jobs end to end through the domain functions: submit, sandbox run, gate, lifecycle."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select

from audit_log import AuditEntry, verify_store
from core.errors import BudgetExhausted, Conflict, InvalidInput, NotFound
from gate.step import candidate_table
from jobs.ledger import BudgetCharge, charge
from jobs.lifecycle import transition
from jobs.queries import get_job
from jobs.runner import run
from jobs.submit import submit_sql
from operators.licenses import revoke_license
from operators.records import License
from service.domain import open_domain
from tests.conftest import AUTHORITY, World

AVG_BY_DISTRICT = (
    "SELECT district, AVG(water_fee) AS avg_fee, COUNT(*) AS n FROM enterprise_utilities "
    "GROUP BY district"
)


def _submit(world: World, sql: str, who=None):
    with world.domain.transaction() as session:
        job = submit_sql(
            session,
            world.license_id,
            who or world.operator,
            sql,
            world.domain.settings.job_settings(),
        )
        return job.id, job.status


def _run(world: World, job_id: int):
    return run(
        world.domain.sessions, world.domain.home, job_id, world.domain.settings.job_settings()
    )


@pytest.mark.sandbox
def test_l3_aggregate_runs_and_awaits_two_reviewers(world: World) -> None:
    job_id, status = _submit(world, AVG_BY_DISTRICT)
    assert status == "queued"
    job = _run(world, job_id)
    assert job.status == "awaiting_review", job.failure
    assert job.required_reviews == 2
    table = candidate_table(world.domain.home, job)
    assert list(table.columns) == ["district", "avg_fee", "n"]  # companions stripped
    assert table["n"].sum() > 0 and not table["avg_fee"].isna().all()


def test_epsilon_is_charged_in_a_persistent_ledger(world: World) -> None:
    job_id, _ = _submit(world, AVG_BY_DISTRICT)
    with world.domain.transaction() as session:
        license = session.get(License, world.license_id)
        charges = session.scalars(select(BudgetCharge)).all()
        assert license.epsilon_spent == pytest.approx(1.0)
        assert [(c.job_id, c.epsilon) for c in charges] == [(str(job_id), 1.0)]


def test_overspending_is_denied_and_charges_nothing(world: World) -> None:
    with world.domain.transaction() as session:
        session.get(License, world.license_id).epsilon_spent = 9.5
    job_id, status = _submit(world, AVG_BY_DISTRICT)
    assert status == "denied"
    with world.domain.transaction() as session:
        assert [r["rule"] for r in get_job(session, job_id).reasons] == ["budget_exhausted"]
        assert session.get(License, world.license_id).epsilon_spent == 9.5
        assert session.scalars(select(BudgetCharge)).all() == []
    with pytest.raises(BudgetExhausted), world.domain.transaction() as session:
        charge(session, session.get(License, world.license_id), "x", 1.0, AUTHORITY)


def test_the_ledger_survives_a_restart(world: World) -> None:
    for _ in range(9):
        _submit(world, AVG_BY_DISTRICT)
    world.domain.engine.dispose()
    reopened = open_domain(world.domain.settings)  # a new process would do exactly this
    with reopened.transaction() as session:
        assert session.get(License, world.license_id).epsilon_spent == pytest.approx(9.0)
        assert len(session.scalars(select(BudgetCharge)).all()) == 9
        job = submit_sql(
            session,
            world.license_id,
            world.operator,
            AVG_BY_DISTRICT,
            reopened.settings.job_settings(),
        )
        assert job.status == "queued"  # the tenth unit of ε fits exactly
    with reopened.transaction() as session:
        job = submit_sql(
            session,
            world.license_id,
            world.operator,
            AVG_BY_DISTRICT,
            reopened.settings.job_settings(),
        )
        assert job.status == "denied" and job.reasons[0]["rule"] == "budget_exhausted"


def test_denied_job_is_recorded_with_reasons(world: World) -> None:
    job_id, status = _submit(world, "SELECT enterprise_id, water_fee FROM enterprise_utilities")
    assert status == "denied"
    with world.domain.transaction() as session:
        job = get_job(session, job_id)
        assert {r["column"] for r in job.reasons} == {"enterprise_id", "water_fee"}
        actions = session.scalars(select(AuditEntry.action)).all()
        assert "job.denied" in actions


def test_another_company_cannot_use_the_license(world: World) -> None:
    with pytest.raises(NotFound, match="no license with id"):  # exactly like a missing one
        _submit(world, AVG_BY_DISTRICT, who=world.outsider)


def test_malformed_sql_changes_nothing(world: World) -> None:
    with world.domain.transaction() as session:
        before = verify_store(session).entries
    with pytest.raises(InvalidInput, match="malformed SQL"):
        _submit(world, "SELECT district FROM WHERE")
    with world.domain.transaction() as session:
        assert verify_store(session).entries == before


def test_license_revoked_while_queued_fails_the_job(world: World) -> None:
    job_id, _ = _submit(world, AVG_BY_DISTRICT)
    with world.domain.transaction() as session:
        revoke_license(session, world.license_id, AUTHORITY, "suspended")
    job = _run(world, job_id)
    assert job.status == "failed" and "revoked" in (job.failure or "")


@pytest.mark.sandbox
def test_small_groups_are_suppressed_by_the_gate(world: World) -> None:
    job_id, _ = _submit(
        world,
        "SELECT district, industry, AVG(capital) AS c, COUNT(*) AS n FROM enterprise_utilities "
        "GROUP BY district, industry",
    )
    job = _run(world, job_id)
    table = candidate_table(world.domain.home, job)
    rules = {f["rule"] for f in job.gate["findings"]}
    assert "threshold" in rules
    assert job.status == "awaiting_review"
    assert table["n"].isna().any() and table["c"].isna().any()
    assert (table["n"].dropna() >= 10).all()


def test_illegal_transition_is_refused(world: World) -> None:
    job_id, _ = _submit(world, "SELECT enterprise_id FROM enterprise_utilities")
    with pytest.raises(Conflict), world.domain.transaction() as session:
        transition(session, get_job(session, job_id), "released", AUTHORITY)


@pytest.mark.sandbox
def test_public_query_output_matches_duckdb_on_the_store(world: World) -> None:
    sql = (
        "SELECT district, COUNT(*) AS n FROM enterprise_utilities "
        "GROUP BY district ORDER BY district"
    )
    job_id, _ = _submit(world, sql)
    job = _run(world, job_id)
    released = candidate_table(world.domain.home, job)
    store = pd.read_parquet(world.domain.home.store / "enterprise_utilities" / "data.parquet")
    expected = store.groupby("district").size().sort_index()
    assert released.set_index("district")["n"].to_dict() == expected.to_dict()


@pytest.mark.sandbox
def test_license_revoked_while_running_keeps_the_output_from_the_gate(world: World) -> None:
    from jobs import runner as job_module

    job_id, _ = _submit(world, AVG_BY_DISTRICT)
    real_execute = job_module.execute

    def revoke_midway(runner, sandbox_run):  # the authority acts while the sandbox runs
        result = real_execute(runner, sandbox_run)
        with world.domain.transaction() as session:
            revoke_license(session, world.license_id, AUTHORITY, "suspended mid-run")
        return result

    job_module.execute = revoke_midway
    try:
        job = _run(world, job_id)
    finally:
        job_module.execute = real_execute
    assert job.status == "failed" and "revoked" in (job.failure or "")
    assert not job.gate
