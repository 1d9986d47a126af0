"""Orchestration without a sandbox: `jobs.runner.run` and a worker drive jobs through
their states with tests.fakes.FakeRunner standing in for bubblewrap or Docker."""

from __future__ import annotations

import dataclasses
import sqlite3
from threading import Event, Thread
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.home import Home
from gate.records import CellPopulation
from gate.step import GateOutcome, candidate_table
from jobs import runner, worker
from jobs.leases import JobLease
from jobs.records import Job
from jobs.runner import run
from jobs.settings import JobSettings
from jobs.submit import submit_sql
from jobs.worker import WorkerOptions, claim, complete, run_claimed, work_one
from operators.licenses import revoke_license
from sandbox.runner import SandboxRun
from service.db import make_engine
from tests.conftest import AUTHORITY, World
from tests.fakes import FakeRunner
from tests.jobs.conftest import job_history, lose_a_lease

COUNT_BY_DISTRICT = "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district"
AVG_BY_DISTRICT = "SELECT district, AVG(water_fee) AS f FROM enterprise_utilities GROUP BY district"


def _settings(world: World, runner: FakeRunner) -> JobSettings:
    return dataclasses.replace(world.domain.settings.job_settings(), sandbox_runner=runner)


def _submit(world: World, sql: str, settings: JobSettings) -> int:
    with world.domain.transaction() as session:
        job = submit_sql(session, world.license_id, world.operator, sql, settings)
        assert job.status == "queued", job.reasons
        return job.id


def _run(world: World, sql: str, runner: FakeRunner) -> Job:
    settings = _settings(world, runner)
    return run(world.domain.sessions, world.domain.home, _submit(world, sql, settings), settings)


def _revoke(world: World) -> None:
    with world.domain.transaction() as session:
        revoke_license(session, world.license_id, AUTHORITY, "suspended by the authority")


def test_a_job_goes_from_queued_through_running_to_review(world: World) -> None:
    fake = FakeRunner()
    job = _run(world, AVG_BY_DISTRICT, fake)
    assert job.status == "awaiting_review", job.failure
    assert job_history(world, job.id) == ["job.submitted", "job.running", "job.awaiting_review"]
    assert job.resources["backend"] == "fake" and job.required_reviews == 2  # L3: two
    [sandbox_run] = fake.started
    assert fake.cleaned == [sandbox_run]  # cleaned up after every run
    assert set(sandbox_run.data) == {"enterprise_utilities", "social_insurance"}
    assert "__n" in sandbox_run.spec["sql"]  # the rewritten core ran, not the operator's SQL
    table = candidate_table(world.domain.home, job)
    assert list(table.columns) == ["district", "f"] and not table["f"].isna().all()


def test_what_the_sandbox_computed_reaches_the_candidate_table(world: World) -> None:
    job = _run(world, COUNT_BY_DISTRICT, FakeRunner())
    assert job.status == "awaiting_review", job.failure
    released = candidate_table(world.domain.home, job).set_index("district")["n"]
    store = pd.read_parquet(world.domain.home.store / "enterprise_utilities" / "data.parquet")
    assert released.to_dict() == store.groupby("district").size().to_dict()


def test_the_gate_judges_the_sandboxs_output(world: World) -> None:
    sql = (
        "SELECT district, industry, AVG(capital) AS c, COUNT(*) AS n "
        "FROM enterprise_utilities GROUP BY district, industry"
    )
    job = _run(world, sql, FakeRunner())
    assert job.status == "awaiting_review", job.failure
    assert "threshold" in {f["rule"] for f in job.gate["findings"]}
    table = candidate_table(world.domain.home, job)
    assert table["c"].isna().any() and (table["n"].dropna() >= 10).all()


def test_a_failed_sandbox_run_fails_the_job_and_keeps_nothing(world: World) -> None:
    fake = FakeRunner(failure="limit:memory_mb")
    job = _run(world, COUNT_BY_DISTRICT, fake)
    assert job.status == "failed" and job.failure == "limit:memory_mb"
    assert not job.gate and not job.outputs
    assert "job.failed" in job_history(world, job.id)
    assert list(fake.started[0].out_dir.iterdir()) == []  # a partial result never stays
    assert fake.cleaned == fake.started


def test_a_license_revoked_mid_run_fails_the_job_before_the_gate(world: World) -> None:
    def authority_acts(_run: SandboxRun) -> None:  # while the sandbox is running
        _revoke(world)

    fake = FakeRunner(during=authority_acts)
    job = _run(world, AVG_BY_DISTRICT, fake)
    assert fake.started, "the job ran"
    assert job.status == "failed" and "revoked" in (job.failure or "")
    assert not job.gate and not job.outputs  # the sandbox's result never reached the gate
    assert job_history(world, job.id)[-2:] == ["job.running", "job.failed"]


def test_a_license_revoked_while_queued_never_starts_the_sandbox(world: World) -> None:
    fake = FakeRunner()
    settings = _settings(world, fake)
    job_id = _submit(world, COUNT_BY_DISTRICT, settings)
    _revoke(world)
    job = run(world.domain.sessions, world.domain.home, job_id, settings)
    assert job.status == "failed" and "revoked" in (job.failure or "")
    assert fake.started == [] and job.started_at is None


def test_a_worker_that_lost_its_lease_discards_its_result(world: World) -> None:
    settings = _settings(world, FakeRunner())
    job_id = _submit(world, COUNT_BY_DISTRICT, settings)
    lose_a_lease(world, settings, job_id)
    with world.domain.transaction() as session:
        assert session.get(Job, job_id).status == "awaiting_review"  # type: ignore[union-attr]
        assert session.get(JobLease, job_id) is None


def test_a_job_runs_in_two_transactions_on_one_connection(world: World) -> None:
    """queued → running and running → awaiting review, each with its audit entries; no
    write transaction between them (the gate judges in one that only reads), and the
    database is not reopened per step."""
    from sqlalchemy import Connection, event

    settings = _settings(world, FakeRunner())
    job_id = _submit(world, AVG_BY_DISTRICT, settings)
    engine = world.domain.engine
    begins: list[bool] = []  # whether each transaction only reads
    connects: list[object] = []

    def began(connection: Connection) -> None:
        begins.append(connection.get_execution_options().get("sluice_read_only", False))

    def connected(*args: object) -> None:
        connects.append(args)

    event.listen(engine, "begin", began)
    event.listen(engine, "connect", connected)
    try:
        job = run(world.domain.sessions, world.domain.home, job_id, settings)
    finally:
        event.remove(engine, "begin", began)
        event.remove(engine, "connect", connected)
    assert job.status == "awaiting_review" and job.finished_at is not None
    assert begins == [False, True, False]
    assert connects == []  # the pooled connection is reused
    assert job_history(world, job_id) == ["job.submitted", "job.running", "job.awaiting_review"]


# How long a test waits for another thread before giving up (never asserted on).
PATIENCE = 120
SDC_QUERY = "SELECT district, SUM(employees) AS f FROM enterprise_utilities GROUP BY district"


def _hold_gate(monkeypatch: pytest.MonkeyPatch, job_id: int) -> tuple[Event, Event]:
    """Make the gate wait, for one job only, until `release` is set; `entered` is set
    once it waits. The gate itself then runs unchanged."""
    entered, release = Event(), Event()
    real_gate = runner.gate_job_outputs

    def held(session: Session, home: Home, job: Job, *args: Any) -> GateOutcome:
        if job.id == job_id:
            entered.set()
            release.wait(PATIENCE)
        return real_gate(session, home, job, *args)

    monkeypatch.setattr(runner, "gate_job_outputs", held)
    return entered, release


def _complete_in_thread(world: World, settings: JobSettings, job_id: int) -> tuple[Thread, list]:
    """A worker claims and runs `job_id`, then records it in a thread of its own."""
    d = world.domain
    held = claim(d.sessions, d.home, WorkerOptions("slow"), settings, job_id)
    assert held is not None
    result = run_claimed(held, settings, "local[1]")
    recorded: list[bool] = []
    thread = Thread(
        target=lambda: recorded.append(complete(d.sessions, d.home, held, result, settings, {}))
    )
    thread.start()
    return thread, recorded


def test_a_worker_claims_and_records_while_another_jobs_gate_runs(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate judges outside the write transaction: while one job's gate is held up,
    another worker claims, runs and records its own job on the same SQLite file (when the
    gate ran inside it, the claim waited for SQLite's lock until `database is locked`)."""
    settings = _settings(world, FakeRunner())
    slow, fast = (
        _submit(world, COUNT_BY_DISTRICT, settings),
        _submit(world, AVG_BY_DISTRICT, settings),
    )
    entered, release = _hold_gate(monkeypatch, slow)
    thread, recorded = _complete_in_thread(world, settings, slow)
    try:
        assert entered.wait(PATIENCE)
        d = world.domain
        assert work_one(d.sessions, d.home, WorkerOptions("fast"), settings) == (fast, "recorded")
        assert thread.is_alive() and not release.is_set()  # the slow gate was still waiting
    finally:
        release.set()
        thread.join(PATIENCE)
    assert recorded == [True]
    with world.domain.transaction() as session:
        for job_id in (slow, fast):
            job = session.get(Job, job_id)
            assert job is not None and job.status == "awaiting_review", job_id
            assert session.get(JobLease, job_id) is None
    assert job_history(world, slow) == ["job.submitted", "job.running", "job.awaiting_review"]
    assert not list((world.domain.home.jobs / str(slow)).glob(".judging-*"))  # none left


def test_cells_kept_while_a_gate_ran_are_checked_before_its_own_enter(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two jobs that difference each other, gated at the same time: the one recorded
    second finds the first's cells at recording (the store changed since its gate read
    it), and is blocked, as if the two had been gated one after the other."""
    settings = _settings(world, FakeRunner())
    store = pd.read_parquet(world.domain.home.store / "enterprise_utilities" / "data.parquet")
    top = float(store["capital"].max())
    assert 0 < int((store["capital"] >= top).sum()) < 10  # a handful left out
    narrowed = SDC_QUERY.replace("GROUP BY", f"WHERE capital < {top:.0f} GROUP BY")
    first, second = _submit(world, SDC_QUERY, settings), _submit(world, narrowed, settings)
    entered, release = _hold_gate(monkeypatch, first)
    thread, recorded = _complete_in_thread(world, settings, first)
    try:
        assert entered.wait(PATIENCE)
        d = world.domain
        assert work_one(d.sessions, d.home, WorkerOptions("fast"), settings) == (
            second,
            "recorded",
        )
    finally:
        release.set()
        thread.join(PATIENCE)
    assert recorded == [True]
    with world.domain.transaction() as session:
        earlier, later = session.get(Job, second), session.get(Job, first)
        assert earlier is not None and earlier.status == "awaiting_review", earlier.gate
        assert later is not None and later.status == "blocked", later.gate
        assert later.gate["differencing"]["earlier"] == [f"job {second} (awaiting_review)"]
        kept = session.scalars(select(CellPopulation.job_id).distinct()).all()
    assert kept == [second]  # a blocked job's cells never enter the store


def test_a_result_is_recorded_once_sqlite_frees_a_lock_held_past_its_busy_timeout(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of other writers can hold SQLite's one write lock past its busy timeout
    (in the Docker soak a submitter's back-to-back submissions held it for 37 s): the
    judged result is recorded once the lock is free, instead of the job failing with
    `database is locked`. Here another connection holds the lock until the first
    attempt gives up, on an engine whose busy timeout is 0.2 s."""
    settings = _settings(world, FakeRunner())
    job_id = _submit(world, AVG_BY_DISTRICT, settings)
    d = world.domain
    held = claim(d.sessions, d.home, WorkerOptions("patient"), settings, job_id)
    assert held is not None
    result = run_claimed(held, settings, "local[1]")
    impatient = make_engine(d.settings.url)

    @event.listens_for(impatient, "connect")
    def _short_wait(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.execute("PRAGMA busy_timeout=200")

    blocker = sqlite3.connect(d.settings.domain_home.database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    attempts: list[str] = []
    real_record = worker._record

    def record_once_free(*args: Any) -> bool:
        try:
            recorded = real_record(*args)
        except OperationalError as exc:
            attempts.append(str(exc.orig))
            blocker.rollback()  # the burst is over after the first refusal
            raise
        attempts.append("recorded")
        return recorded

    monkeypatch.setattr(worker, "_record", record_once_free)
    try:
        sessions = sessionmaker(impatient, expire_on_commit=False)
        assert complete(sessions, d.home, held, result, settings, {}) is True
    finally:
        blocker.close()
        impatient.dispose()
    assert attempts == ["database is locked", "recorded"]
    with d.transaction() as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert job.status == "awaiting_review", job.failure
        assert session.get(JobLease, job_id) is None
    assert job_history(world, job_id) == ["job.submitted", "job.running", "job.awaiting_review"]
    assert not list((d.home.jobs / str(job_id)).glob(".judging-*"))


def test_the_embedded_queue_records_a_result_once_sqlite_frees_its_lock(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-process path (`jobs.runner.run`, the embedded queue) tries the recording
    transaction again too: another writer takes SQLite's lock once the job is judged
    and keeps it past the busy timeout (0.2 s here), then frees it after the first
    refusal; the job is recorded, not failed."""
    settings = _settings(world, FakeRunner())
    job_id = _submit(world, AVG_BY_DISTRICT, settings)
    d = world.domain
    impatient = make_engine(d.settings.url)
    refusals: list[str] = []
    blocker = sqlite3.connect(d.settings.domain_home.database, isolation_level=None)

    @event.listens_for(impatient, "connect")
    def _short_wait(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.execute("PRAGMA busy_timeout=200")

    @event.listens_for(impatient, "handle_error")
    def _free_after_first(context):  # type: ignore[no-untyped-def]
        refusals.append(str(context.original_exception))
        if blocker.in_transaction:
            blocker.rollback()  # the burst is over after the first refusal

    real_judge = runner.judge_result

    def judge_then_block(*args: Any) -> runner.Verdict:
        verdict = real_judge(*args)
        blocker.execute("BEGIN IMMEDIATE")  # a burst of other writers starts
        return verdict

    monkeypatch.setattr(runner, "judge_result", judge_then_block)
    try:
        job = run(sessionmaker(impatient, expire_on_commit=False), d.home, job_id, settings)
    finally:
        blocker.close()
        impatient.dispose()
    assert refusals == ["database is locked"]
    assert job.status == "awaiting_review", job.failure
    assert job_history(world, job_id) == ["job.submitted", "job.running", "job.awaiting_review"]
    assert not list((d.home.jobs / str(job_id)).glob(".judging-*"))
