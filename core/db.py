"""The ORM base shared by every package's tables, and the clock they record with.

Each domain package declares its own tables on this one `Base`, so a single
Alembic history covers the whole domain and a state change plus its audit entry
can share one transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    """Naive UTC timestamp: SQLite keeps no zone, so every row stores UTC."""
    return datetime.now(UTC).replace(tzinfo=None)
