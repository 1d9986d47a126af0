"""The ORM base shared by every package's tables, and the clock they record with.

Each domain package declares its own tables on this one `Base`, so a single
Alembic history covers the whole domain and a state change plus its audit entry
can share one transaction. Columns holding a state are declared with `EnumText`,
so code reads a `StrEnum` member where the row holds its plain value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import MetaData, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from core.failures import JobFailure

E = TypeVar("E", bound=StrEnum)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# `session.connection(execution_options=READ_ONLY)`, first in a session that only reads:
# on SQLite it begins without the write lock (service.db), so long reads never hold
# back writers; other databases ignore it.
READ_ONLY = {"sluice_read_only": True}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    """Naive UTC timestamp: SQLite keeps no zone, so every row stores UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


class EnumText(TypeDecorator[E]):
    """A StrEnum stored as its plain value in a VARCHAR, and read back as the member.

    Writes pass any string through, so a filter on an unknown value simply matches
    nothing (as it did when these columns were plain strings); reads are typed.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int = 20) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: object, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: object, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(str(value))


class FailureText(TypeDecorator[JobFailure]):
    """A job failure stored as its text (`JobFailure` is one) and read back typed."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: object, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: object, dialect: Dialect) -> JobFailure | None:
        return None if value is None else JobFailure.parse(str(value))
