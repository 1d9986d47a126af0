"""The ε ledger under concurrency and failure: a licence is never overspent, and its
`epsilon_spent` always equals the sum of its charges, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from core.errors import BudgetExhausted, NotFound
from jobs.ledger import ledger_balance, ledger_consistent, unbalanced_ledgers
from jobs.submit import submit
from operators.records import License
from tests.conftest import World

AVG_BY_DISTRICT = "SELECT district, AVG(water_fee) AS a FROM enterprise_utilities GROUP BY district"


def _submit(world: World) -> str:
    """One submission in its own session and transaction: the job's status, or `refused`."""
    try:
        with world.domain.transaction() as session:
            settings = world.domain.settings.job_settings()
            job = submit(session, world.license_id, world.operator, settings, sql=AVG_BY_DISTRICT)
            return str(job.status)
    except BudgetExhausted:
        return "refused"


def test_the_balance_check_finds_a_licence_its_charges_do_not_explain(world: World) -> None:
    assert _submit(world) == "queued"
    with world.domain.transaction() as session:
        assert ledger_consistent(session, world.license_id) and unbalanced_ledgers(session) == []
        session.get(License, world.license_id).epsilon_spent = 0.5  # type: ignore[union-attr]
    with world.domain.transaction() as session:
        assert not ledger_consistent(session, world.license_id)
        [off] = unbalanced_ledgers(session)
        assert (off.license_id, off.spent, off.charged) == (world.license_id, 0.5, 1.0)
        assert off.discrepancy == pytest.approx(-0.5)
        with pytest.raises(NotFound):
            ledger_balance(session, 999)
