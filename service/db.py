"""Database engine and sessions; migrations are applied with Alembic on `sluice init`.

SQLite (one machine): writes start with BEGIN IMMEDIATE, so two processes
appending to the audit chain at once are serialized instead of both reading the
same head. PostgreSQL (past one machine, SLUICE_DATABASE_URL=postgresql+psycopg://…):
READ COMMITTED, with row locks (FOR UPDATE, SKIP LOCKED for the job queue) and an
advisory lock around audit appends doing the serializing; see audit_log.chain.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


BUSY_SECONDS = 120


def is_postgresql(url: str) -> bool:
    return url.startswith(("postgresql", "postgres"))


def make_engine(url: str) -> Engine:
    if is_postgresql(url):
        return _postgresql_engine(url)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    # SQLite has one writer and no queue: a waiting writer polls, and a burst of
    # back-to-back write transactions (a client submitting jobs in a loop held it 37 s in
    # the Docker soak) can keep it waiting long; it waits up to BUSY_SECONDS, then fails
    engine = create_engine(url, connect_args={"timeout": BUSY_SECONDS})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # let us issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):  # type: ignore[no-untyped-def]
        # a unit that only reads (core.db.READ_ONLY) takes no write lock: in WAL mode it reads a
        # snapshot while others write, which a long read (a full verification) needs
        deferred = connection.get_execution_options().get("sluice_read_only", False)
        connection.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

    return engine


def _postgresql_engine(url: str) -> Engine:
    """A small pool per process: the API server and every worker each hold one, and
    PostgreSQL's max_connections (100 by default) is shared by all of them.

    A transaction left idle (a process stopped between statements while holding the
    audit lock) is ended by the server instead of blocking every writer.
    """
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_recycle=1800,
        connect_args={
            "application_name": "sluice",
            "connect_timeout": 10,
            "options": "-c idle_in_transaction_session_timeout=60000 -c lock_timeout=60000",
        },
    )


def session_factory(engine: Engine) -> Callable[[], Session]:
    return sessionmaker(engine, expire_on_commit=False)


def migrate(url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation would read a "%" in a password as a placeholder
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")
