# ruff: noqa: F811  (pytest fixtures imported from tests.jobs.conftest)
"""Group commit: many writers, threads or processes, one intact log; a bad entry is its
writer's problem alone."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select, text

from audit_log import Actor, AuditAction, AuditEntry, append, verify_store
from audit_log.chain import append_many
from audit_log.records import AuditEntryDataset, TreeHead
from service.domain import Domain, open_domain
from service.settings import Settings
from tests.audit_log.conftest import open_log_domain
from tests.jobs.conftest import pg_domain, pg_server, pg_settings, pg_url  # noqa: F401

THREADS = 8
EACH = 20


def _write(domain: Domain, name: str, count: int) -> list[tuple[str, int]]:
    """Append `count` entries as writer `name`; the (subject, seq) each append returned."""
    return [
        (
            subject,
            domain.record(Actor(name, "system"), AuditAction.TOKEN_USED, subject, {"i": i}),
        )
        for i in range(count)
        for subject in [f"{name}:{i}"]
    ]


def _in_threads(work: Callable[[int], list[tuple[str, int]]], threads: int) -> list:
    start = threading.Barrier(threads)
    results: list = [None] * threads

    def run(number: int) -> None:
        start.wait()
        try:
            results[number] = work(number)
        except BaseException as error:  # noqa: BLE001  asserted by the caller
            results[number] = error

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def _assert_log_holds(domain: Domain, returned: list[tuple[str, int]]) -> None:
    """No gaps, no duplicates, every writer's seq names its own entry, the log verifies."""
    with domain.sessions() as session:
        rows = session.execute(
            select(AuditEntry.seq, AuditEntry.subject).order_by(AuditEntry.seq)
        ).all()
        result = verify_store(session)
    assert [seq for seq, _ in rows] == list(range(1, len(rows) + 1))
    by_seq = dict(rows)
    seqs = [seq for _, seq in returned]
    assert len(set(seqs)) == len(seqs)
    assert all(by_seq[seq] == subject for subject, seq in returned)
    assert result.ok and result.entries == len(rows), result.to_dict()


def test_threads_each_get_their_own_seq(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    domain = open_log_domain(tmp_path, monkeypatch)
    results = _in_threads(lambda n: _write(domain, f"t{n}", EACH), THREADS)
    returned = [pair for result in results for pair in result]
    assert len(returned) == THREADS * EACH
    _assert_log_holds(domain, returned)


def _process_writer(home: str, name: str, queue: multiprocessing.Queue) -> None:
    domain = open_domain(Settings(home=Path(home), database_url=None))
    results = _in_threads(lambda n: _write(domain, f"{name}.{n}", EACH), 4)
    queue.put([pair for result in results for pair in result])


def test_two_processes_share_one_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    domain = open_log_domain(tmp_path, monkeypatch)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    home = str(domain.home.root)
    processes = [
        context.Process(target=_process_writer, args=(home, f"p{n}", queue)) for n in range(2)
    ]
    for process in processes:
        process.start()
    returned = queue.get(timeout=300) + queue.get(timeout=300)
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert len(returned) == 2 * 4 * EACH
    _assert_log_holds(domain, returned)


def test_an_entry_that_cannot_be_written_fails_only_its_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = open_log_domain(tmp_path, monkeypatch)

    def work(number: int) -> list[tuple[str, int]]:
        if number == 3:
            details = {"ratio": float("nan")}  # not JSON: the log cannot hold it
            domain.record(Actor("bad", "system"), AuditAction.TOKEN_USED, "bad", details)
        return _write(domain, f"t{number}", EACH)

    results = _in_threads(work, THREADS)
    assert isinstance(results[3], ValueError)
    returned = [pair for n, result in enumerate(results) if n != 3 for pair in result]
    assert len(returned) == (THREADS - 1) * EACH
    _assert_log_holds(domain, returned)


def test_a_database_error_mid_batch_reaches_only_its_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses one entry of a batch: the others still commit, each with its
    own seq, and only the refused writer gets the error."""
    domain = open_log_domain(tmp_path, monkeypatch)
    raw = sqlite3.connect(domain.home.database, isolation_level=None, timeout=30)
    raw.execute(
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON audit_entries "
        "WHEN NEW.subject = 'poison' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    )
    raw.execute("BEGIN IMMEDIATE")  # hold the write lock so every writer queues up
    subjects = [f"w{n}" for n in range(THREADS - 1)] + ["poison"]
    outcomes: dict[str, int | BaseException] = {}

    def write(subject: str) -> None:
        try:
            seq = domain.record(Actor(subject, "system"), AuditAction.TOKEN_USED, subject)
            outcomes[subject] = seq
        except BaseException as error:  # noqa: BLE001  asserted below
            outcomes[subject] = error

    leader = threading.Thread(target=write, args=("first",))
    leader.start()  # leads a batch of one, blocked on the lock
    while not domain.appender.busy or domain.appender.waiting:
        threading.Event().wait(0.01)
    others = [threading.Thread(target=write, args=(s,)) for s in subjects]
    for thread in others:
        thread.start()
    while domain.appender.waiting < len(subjects):  # all queued behind the leader: one batch
        threading.Event().wait(0.01)
    raw.execute("ROLLBACK")
    for thread in [leader, *others]:
        thread.join()
    raw.close()
    assert isinstance(outcomes.pop("poison"), Exception)
    returned = [(subject, seq) for subject, seq in outcomes.items()]
    assert all(isinstance(seq, int) for _, seq in returned), outcomes
    _assert_log_holds(domain, returned)  # type: ignore[arg-type]


def test_group_commit_and_spans_on_postgresql(pg_domain: Domain) -> None:
    """The same appender and the same span verification serve PostgreSQL: grouped appends
    from many threads keep one chain, and spans on worker processes agree with one pass."""
    results = _in_threads(lambda n: _write(pg_domain, f"t{n}", EACH), THREADS)
    returned = [pair for result in results for pair in result]
    assert len(returned) == THREADS * EACH
    _assert_log_holds(pg_domain, returned)
    with pg_domain.sessions() as session:
        one_pass = verify_store(session, workers=1)
        spans = verify_store(session, workers=2, span_entries=30)
    assert one_pass.ok and spans.to_dict() == one_pass.to_dict()
    with pg_domain.engine.begin() as connection:  # an insider edits an entry in place
        connection.execute(text("UPDATE audit_entries SET actor = 'x' WHERE seq = 77"))
    with pg_domain.sessions() as session:
        one_pass = verify_store(session, workers=1)
        spans = verify_store(session, workers=2, span_entries=30)
    assert one_pass.first_bad_seq == 77 and spans.to_dict() == one_pass.to_dict()


def _batch() -> list:
    """Entries that lean on each other: owners named then inherited (by subject and by
    the job they name), datasets, denials that fire an alert, more than a head's worth."""
    operator = Actor("li", "operator")
    owner = {"operator_id": 3, "license": 5}
    return [
        (operator, AuditAction.JOB_SUBMITTED, "job:1", {**owner, "datasets": ["b", "a"]}),
        (operator, AuditAction.TOKEN_USED, "job:1", {"n": 1}),
        (Actor.system(), AuditAction.TOKEN_USED, "charge:1", {"job": 1}),
        (operator, AuditAction.TOKEN_USED, "dataset:meters", {"dataset": "grid"}),
        (operator, AuditAction.TOKEN_USED, "license:9", {"operator_id": 4}),
        (operator, AuditAction.TOKEN_USED, "license:9", {"n": 2}),
        *[(operator, AuditAction.JOB_DENIED, f"job:{n}", owner) for n in range(2, 7)],
        (operator, AuditAction.TOKEN_USED, "job:6", {"n": 6}),
    ]


def _written(domain: Domain) -> tuple[list, list, list]:
    """Everything but times and hashes: entries after the first (which names the domain's
    home) with their index, datasets, head sizes."""
    with domain.sessions() as session:
        entries = session.execute(
            select(
                AuditEntry.seq,
                AuditEntry.actor,
                AuditEntry.action,
                AuditEntry.subject,
                AuditEntry.details,
                AuditEntry.operator_id,
                AuditEntry.license_id,
            )
            .where(AuditEntry.seq > 1)
            .order_by(AuditEntry.seq)
        ).all()
        datasets = session.execute(
            select(AuditEntryDataset.seq, AuditEntryDataset.dataset).order_by(
                AuditEntryDataset.seq, AuditEntryDataset.dataset
            )
        ).all()
        heads = session.scalars(select(TreeHead.size).order_by(TreeHead.size)).all()
        assert verify_store(session).ok
    return [tuple(e) for e in entries], [tuple(d) for d in datasets], list(heads)


def test_a_batch_writes_what_one_append_at_a_time_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_by_one = open_log_domain(tmp_path / "one", monkeypatch)
    with one_by_one.transaction() as session:
        seqs = [append(session, *pending).seq for pending in _batch()]
    batched = open_log_domain(tmp_path / "batch", monkeypatch)
    with batched.transaction() as session:
        assert append_many(session, _batch()) == seqs
    written = _written(batched)
    assert written == _written(one_by_one)
    entries, datasets, heads = written
    assert (entries[2][5], entries[2][6]) == (3, 5)  # seq 4 inherits job:1's owner
    assert (entries[5][5], entries[5][6]) == (4, 9)  # seq 7, from seq 6 still in memory
    assert ("alert.repeated_denials", "job:6") in [(e[2], e[3]) for e in entries]
    assert datasets == [(2, "a"), (2, "b"), (5, "grid"), (5, "meters")]
    assert heads == [4, 8, 12]
