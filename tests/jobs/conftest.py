"""A real PostgreSQL for the worker and metadata tests, and domains that live in it;
a real Spark cluster (standalone master, two workers) and a Spark Connect server.

One throwaway cluster of each per test session (tests.postgres, tests.spark_cluster);
each PostgreSQL test gets its own empty database in it. Without a component the tests
skip with the reason, except under CI=true, where they fail
(tests.conftest.require_component).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text, update

from audit_log import AuditEntry
from core.db import utcnow
from jobs.leases import JobLease
from jobs.settings import JobSettings
from jobs.worker import WorkerOptions, claim, complete, run_claimed, work_one
from service.domain import Domain, init_domain
from service.settings import Settings
from tests.conftest import World, build_world, require_component
from tests.postgres import binaries, postgres_server
from tests.spark_cluster import connect_server, spark_home, standalone_cluster


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    require_component(binaries() is not None, "PostgreSQL (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        require_component(False, "psycopg (pip install 'psycopg[binary]')")
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def spark_cluster() -> Iterator[str]:
    """spark://127.0.0.1:PORT of a standalone master with two registered workers."""
    require_component(spark_home() is not None, "Java 17+ and pyspark (for Spark)")
    with standalone_cluster() as (master, _):
        yield master


@pytest.fixture(scope="session")
def spark_connect() -> Iterator[str]:
    """sc://127.0.0.1:PORT of a Spark Connect server. It runs its queries in-process
    (local[1]): the standalone cluster's cores belong to the session that compares
    the corpus, and a second application there would wait for them."""
    require_component(spark_home() is not None, "Java 17+ and pyspark (for Spark)")
    with connect_server("local[1]") as url:
        yield url


def fresh_database(server_url: str) -> str:
    """A new empty database on the test cluster; its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def pg_url(pg_server: str) -> str:
    return fresh_database(pg_server)


@pytest.fixture
def pg_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str) -> Settings:
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SLUICE_DATABASE_URL", pg_url)
    monkeypatch.setenv("SLUICE_SANDBOX_BACKEND", "bubblewrap")
    return Settings()


@pytest.fixture
def pg_domain(pg_settings: Settings) -> Iterator[Domain]:
    domain = init_domain(pg_settings)[0]
    yield domain
    domain.engine.dispose()


@pytest.fixture
def pg_world(pg_domain: Domain, demo_files: list[tuple[Path, Path]]) -> World:
    return build_world(pg_domain, demo_files)


def job_history(world: World, job_id: int) -> list[str]:
    """The job's audit actions, in order."""
    with world.domain.transaction() as session:
        query = select(AuditEntry.action).where(AuditEntry.subject == f"job:{job_id}")
        return list(session.scalars(query.order_by(AuditEntry.seq)))


def lose_a_lease(world: World, settings: JobSettings, job_id: int) -> None:
    """A slow worker claims and runs the job but stalls past its lease; a fast one takes
    the job over and records it; the slow one's result is then refused, and the job
    reached review once."""
    d = world.domain
    slow = claim(d.sessions, d.home, WorkerOptions("slow", lease_seconds=30), settings)
    assert slow is not None and slow.job_id == job_id
    result = run_claimed(slow, settings, "local[1]")
    with d.transaction() as session:  # the slow worker stalls past its lease
        session.execute(update(JobLease).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert work_one(d.sessions, d.home, WorkerOptions("fast"), settings) == (job_id, "recorded")
    assert not complete(d.sessions, d.home, slow, result, settings, {})
    actions = job_history(world, job_id)
    assert actions.count("job.running") == 2 and actions.count("job.queued") == 1
    assert actions.count("job.awaiting_review") == 1
