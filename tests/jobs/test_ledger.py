"""The ε ledger under concurrency and failure: a licence is never overspent, and its
`epsilon_spent` always equals the sum of its charges, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from audit_log import verify_store
from core.errors import BudgetExhausted, NotFound
from jobs.ledger import BudgetCharge, charge, ledger_balance, ledger_consistent, unbalanced_ledgers
from jobs.records import Job
from jobs.submit import submit
from operators.records import License
from service.domain import Domain
from service.web.i18n import translator
from service.web.wording import Worded, error_words
from tests.conftest import AUTHORITY, World, build_world

AVG_BY_DISTRICT = "SELECT district, AVG(water_fee) AS a FROM enterprise_utilities GROUP BY district"
SUBMISSIONS = 16
REPO = Path(__file__).parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def two_units(request: pytest.FixtureRequest, demo_files: list[tuple[Path, Path]]) -> World:
    """A world whose licence has ε = 2: room for exactly two ε = 1 queries."""
    domain = request.getfixturevalue("domain" if request.param == "sqlite" else "pg_domain")
    return build_world(domain, demo_files, epsilon=2.0)


def _submit(world: World) -> str:
    """One submission in its own session and transaction: the job's status, or `refused`."""
    try:
        with world.domain.transaction() as session:
            settings = world.domain.settings.job_settings()
            job = submit(session, world.license_id, world.operator, settings, sql=AVG_BY_DISTRICT)
            return str(job.status)
    except BudgetExhausted:
        return "refused"


def _state(session: Session, license_id: int) -> tuple[float, list[str], list[str]]:
    """The licence's spent ε, the jobs its charges name, and the queued jobs."""
    license = session.get(License, license_id, populate_existing=True)
    assert license is not None
    spent = license.epsilon_spent
    charged = session.scalars(select(BudgetCharge.job_id).order_by(BudgetCharge.job_id)).all()
    queued = session.scalars(select(Job.id).where(Job.status == "queued").order_by(Job.id)).all()
    return spent, list(charged), [str(q) for q in queued]


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


def test_concurrent_submissions_never_overspend(two_units: World) -> None:
    start = threading.Barrier(SUBMISSIONS)

    def racer(_: int) -> str:
        start.wait()  # everyone reads the untouched licence before anyone commits
        return _submit(two_units)

    with ThreadPoolExecutor(SUBMISSIONS) as pool:
        outcomes = list(pool.map(racer, range(SUBMISSIONS)))
    assert outcomes.count("queued") == 2, outcomes
    assert sorted(set(outcomes) - {"queued"}) <= ["denied", "refused"]
    with two_units.domain.transaction() as session:
        spent, charged, queued = _state(session, two_units.license_id)
        assert spent == pytest.approx(2.0)
        assert charged == queued and len(queued) == 2  # one charge per accepted job
        assert ledger_balance(session, two_units.license_id).charged == pytest.approx(2.0)
        assert ledger_consistent(session, two_units.license_id)
        assert verify_store(session).ok


def test_a_stale_licence_cannot_overspend(two_units: World) -> None:
    with two_units.domain.transaction() as session:
        stale = session.get(License, two_units.license_id)  # read while ε = 2 was left
    assert [_submit(two_units) for _ in range(2)] == ["queued", "queued"]
    with two_units.domain.sessions() as session, session.begin():
        late = session.merge(stale, load=False)  # still says ε = 0 spent
        with pytest.raises(BudgetExhausted, match="ε=0.000 left"):
            charge(session, late, "late", 1.0, AUTHORITY)
        assert late.epsilon_spent == 2.0  # refreshed from the row
    with two_units.domain.transaction() as session:
        spent, charged, queued = _state(session, two_units.license_id)
        assert spent == 2.0 and charged == queued
        assert ledger_consistent(session, two_units.license_id)


def test_a_failure_after_the_update_leaves_nothing(
    two_units: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(session: Session, *_: object, **__: object) -> None:
        session.flush()  # the UPDATE and the charge row have reached the database
        raise RuntimeError("the machine lost power")

    monkeypatch.setattr("jobs.ledger.append", crash)
    with pytest.raises(RuntimeError, match="lost power"):
        _submit(two_units)
    monkeypatch.undo()
    with two_units.domain.transaction() as session:
        assert _state(session, two_units.license_id) == (0.0, [], [])
        assert session.scalar(select(func.count()).select_from(Job)) == 0
        assert ledger_consistent(session, two_units.license_id)
        assert verify_store(session).ok
    assert [_submit(two_units) for _ in range(3)] == ["queued", "queued", "denied"]


CHARGE_THEN_DIE = textwrap.dedent(
    """
    import os, sys
    from jobs.submit import submit
    from operators.accounts import Principal, get_user
    from service.domain import open_domain
    from service.settings import Settings

    domain = open_domain(Settings())
    session = domain.sessions()
    session.begin()
    operator = Principal.of(get_user(session, sys.argv[2]))
    settings = domain.settings.job_settings()
    job = submit(session, int(sys.argv[1]), operator, settings, sql=sys.argv[3])
    session.flush()
    print(job.status, flush=True)
    sys.stdin.readline()  # hold the open transaction (and its row lock) until told
    os._exit(1)  # die before commit, as a killed API worker would
    """
)


def test_a_process_killed_before_commit_charges_nothing(
    pg_domain: Domain, demo_files: list[tuple[Path, Path]]
) -> None:
    world = build_world(pg_domain, demo_files, epsilon=2.0)
    args = [str(world.license_id), world.operator.name, AVG_BY_DISTRICT]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHARGE_THEN_DIE, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "queued"
        with world.domain.transaction() as session:
            assert _state(session, world.license_id) == (0.0, [], [])  # not yet committed
        locked = select(License).where(License.id == world.license_id)
        with world.domain.sessions() as probe, pytest.raises(OperationalError, match="lock"):
            probe.execute(locked.with_for_update(nowait=True))  # the UPDATE holds the row
        child.communicate("die\n", timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 1
    with world.domain.transaction() as session:
        assert _state(session, world.license_id) == (0.0, [], [])
        assert session.scalar(select(func.count()).select_from(Job)) == 0
        assert ledger_consistent(session, world.license_id)
        assert verify_store(session).ok
    assert [_submit(world) for _ in range(3)] == ["queued", "queued", "denied"]
    with world.domain.transaction() as session:
        assert _state(session, world.license_id)[0] == pytest.approx(2.0)
        assert unbalanced_ledgers(session) == []


def test_a_release_with_key_selection_charges_its_delta_too(domain: Domain, demo_files) -> None:
    """A DP release whose keys are chosen by partition selection spends δ as well as ε."""
    world = build_world(domain, demo_files)
    free_keys = "SELECT street, SUM(water_fee) AS w FROM enterprise_utilities GROUP BY street"
    settings = domain.settings.job_settings()
    with domain.transaction() as session:
        job = submit(session, world.license_id, world.operator, settings, sql=free_keys)
        assert job.status == "queued"
        [row] = session.scalars(select(BudgetCharge).where(BudgetCharge.job_id == str(job.id)))
        assert row.epsilon == pytest.approx(1.0) and row.delta == pytest.approx(1e-6)


# ---------------------------------------------------------------------------- the δ budget

FREE_KEYS = "SELECT street, SUM(water_fee) AS w FROM enterprise_utilities GROUP BY street"
KEY_DELTA = 1e-6  # policies.partitions.DEFAULT_DELTA: one release whose keys are chosen by DP


@pytest.fixture(params=["sqlite", "postgresql"])
def two_deltas(request: pytest.FixtureRequest, demo_files: list[tuple[Path, Path]]) -> World:
    """A licence with ε to spare but δ for exactly two releases with key selection."""
    domain = request.getfixturevalue("domain" if request.param == "sqlite" else "pg_domain")
    return build_world(domain, demo_files, epsilon=100.0, delta=2 * KEY_DELTA)


def _submit_sql(world: World, sql: str) -> str:
    try:
        with world.domain.transaction() as session:
            settings = world.domain.settings.job_settings()
            return str(submit(session, world.license_id, world.operator, settings, sql=sql).status)
    except BudgetExhausted:
        return "refused"


def test_concurrent_submissions_never_overspend_delta(two_deltas: World) -> None:
    start = threading.Barrier(SUBMISSIONS)

    def racer(_: int) -> str:
        start.wait()
        return _submit_sql(two_deltas, FREE_KEYS)

    with ThreadPoolExecutor(SUBMISSIONS) as pool:
        outcomes = list(pool.map(racer, range(SUBMISSIONS)))
    assert outcomes.count("queued") == 2, outcomes
    assert sorted(set(outcomes) - {"queued"}) <= ["denied", "refused"]
    with two_deltas.domain.transaction() as session:
        license = session.get(License, two_deltas.license_id, populate_existing=True)
        assert license is not None
        assert license.delta_spent == pytest.approx(2 * KEY_DELTA, rel=1e-9)
        assert license.epsilon_spent == pytest.approx(2.0)  # ε charged with δ, never alone
        balance = ledger_balance(session, two_deltas.license_id)
        assert balance.delta_charged == pytest.approx(2 * KEY_DELTA, rel=1e-9)
        assert ledger_consistent(session, two_deltas.license_id)
        assert verify_store(session).ok
    # public keys spend no δ: a query over declared categories still runs
    assert _submit_sql(two_deltas, AVG_BY_DISTRICT) == "queued"


def test_a_release_beyond_the_delta_budget_is_refused_with_its_reason(two_deltas: World) -> None:
    assert [_submit_sql(two_deltas, FREE_KEYS) for _ in range(2)] == ["queued", "queued"]
    settings = two_deltas.domain.settings.job_settings()
    with two_deltas.domain.transaction() as session:
        job = submit(session, two_deltas.license_id, two_deltas.operator, settings, sql=FREE_KEYS)
        assert job.status == "denied"
        [reason] = job.reasons
        assert reason["rule"] == "delta_exhausted" and "δ=" in reason["message"]
    with two_deltas.domain.sessions() as session, session.begin():
        license = session.get(License, two_deltas.license_id)
        assert license is not None
        # the ledger's own check, as a racer that passed the pre-check meets it
        with pytest.raises(BudgetExhausted, match="δ=0 left, this query needs δ=1e-06") as late:
            charge(session, license, "late", 1.0, AUTHORITY, delta=KEY_DELTA)
        assert license.epsilon_spent == pytest.approx(2.0)  # nothing of the ε was taken
    number = two_deltas.license_id
    assert error_words(late.value, translator("zh-CN")) == Worded(
        f"隐私预算不足：授权 {number} 剩余 δ=0，此查询需要 δ=1e-06（其分组键由差分隐私选取）",
        "请按已声明公开类别的列分组（不消耗 δ），或向数据主管部门申请追加 δ",
    )


def test_a_crash_mid_charge_leaves_delta_and_epsilon_untouched(
    two_deltas: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(session: Session, *_: object, **__: object) -> None:
        session.flush()  # the UPDATE of ε and δ and the charge row are in the database
        raise RuntimeError("the machine lost power")

    monkeypatch.setattr("jobs.ledger.append", crash)
    with pytest.raises(RuntimeError, match="lost power"):
        _submit_sql(two_deltas, FREE_KEYS)
    monkeypatch.undo()
    with two_deltas.domain.transaction() as session:
        license = session.get(License, two_deltas.license_id, populate_existing=True)
        assert license is not None and (license.epsilon_spent, license.delta_spent) == (0.0, 0.0)
        assert session.scalar(select(func.count()).select_from(BudgetCharge)) == 0
        assert ledger_consistent(session, two_deltas.license_id)
    assert [_submit_sql(two_deltas, FREE_KEYS) for _ in range(3)] == ["queued", "queued", "denied"]


def test_the_balance_check_covers_delta(world: World) -> None:
    assert _submit_sql(world, FREE_KEYS) == "queued"
    with world.domain.transaction() as session:
        assert ledger_consistent(session, world.license_id)
        session.get(License, world.license_id).delta_spent = 0.0  # type: ignore[union-attr]
    with world.domain.transaction() as session:
        [off] = unbalanced_ledgers(session)
        assert (off.delta_spent, off.delta_charged) == (0.0, pytest.approx(KEY_DELTA))
