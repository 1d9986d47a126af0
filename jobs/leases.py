"""The job queue's own tables: a worker's lease on a running job, and engine defaults.

A lease row exists while a worker holds a job; its token changes on every claim,
so a worker that lost its lease can tell, and its result is discarded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow

ENGINES = ("duckdb", "spark")


class JobLease(Base):
    __tablename__ = "job_leases"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    worker: Mapped[str] = mapped_column(String(200), nullable=False)
    token: Mapped[str] = mapped_column(String(64), nullable=False)
    claimed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)


class EngineDefault(Base):
    """Which engine runs a license's or a dataset's SQL when the operator names none.

    Exactly one of license_id and dataset is set; a license's default wins over its
    datasets', and `duckdb` is the default of defaults.
    """

    __tablename__ = "engine_defaults"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    license_id: Mapped[int | None] = mapped_column(
        ForeignKey("licenses.id"), nullable=True, unique=True
    )
    dataset: Mapped[str | None] = mapped_column(String(63), nullable=True, unique=True)
    engine: Mapped[str] = mapped_column(String(20), nullable=False)
    set_by: Mapped[str] = mapped_column(String(200), nullable=False)
    set_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "license_id": self.license_id,
            "dataset": self.dataset,
            "engine": self.engine,
            "set_by": self.set_by,
            "set_at": self.set_at.isoformat() if self.set_at else None,
        }
