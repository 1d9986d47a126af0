# ruff: noqa: F811  (pytest fixtures imported from tests.jobs.conftest)
"""PostgreSQL as the metadata store: the same migrations, and an audit chain that stays
one chain when many writers append at once."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import inspect, select, text

from audit_log import Actor, AuditAction, AuditEntry, append, verify_store
from service.domain import Domain, init_domain
from service.settings import Settings
from tests.jobs.conftest import pg_domain, pg_server, pg_settings, pg_url  # noqa: F401

WRITERS = 6
APPENDS = 15


def test_every_migration_runs_on_postgresql(pg_domain: Domain, pg_settings: Settings) -> None:
    with pg_domain.engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        tables = set(inspect(connection).get_table_names())
    versions = Path(__file__).parents[2] / "service" / "migrations" / "versions"
    assert version == max(p.name[:4] for p in versions.glob("0*.py"))  # the newest
    assert {"jobs", "audit_entries", "job_leases", "engine_defaults", "sandbox_limits"} <= tables
    again, created = init_domain(pg_settings)
    assert created is False  # the log already has its domain.initialized entry
    with again.transaction() as session:
        actions = session.scalars(select(AuditEntry.action)).all()
        assert actions.count("domain.initialized") == 1
        assert verify_store(session).ok
    again.engine.dispose()


def test_concurrent_writers_keep_one_contiguous_chain(pg_domain: Domain) -> None:
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            start.wait()
            for i in range(APPENDS):
                with pg_domain.transaction() as session:
                    append(
                        session,
                        Actor(f"w{number}", "system"),
                        AuditAction.TOKEN_USED,
                        f"w{number}:{i}",
                    )
        except BaseException as exc:  # noqa: BLE001  reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with pg_domain.transaction() as session:
        seqs = session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)).all()
        assert seqs == list(range(1, len(seqs) + 1))
        ours = session.scalars(
            select(AuditEntry).where(AuditEntry.action == AuditAction.TOKEN_USED)
        ).all()
        assert len(ours) == WRITERS * APPENDS
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        for before, after in zip(entries, entries[1:], strict=False):
            assert after.prev_hash == before.entry_hash
        result = verify_store(session)
        assert result.ok, result.problem
