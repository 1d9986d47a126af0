"""Alembic environment: one metadata for every package's tables."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

import service.tables  # noqa: F401  (registers every table on Base.metadata)
from core.db import Base
from service.db import make_engine

config = context.config


def run(url: str) -> None:
    engine = make_engine(url) if url.startswith("sqlite") else None
    if engine is None:
        from sqlalchemy import create_engine

        engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=Base.metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


url = config.get_main_option("sqlalchemy.url")
assert url, "alembic needs sqlalchemy.url"
run(url)
