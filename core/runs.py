"""Work that runs in the background of one server process and is followed from any:
the columns every such run's record has, and when a "running" one has stopped reporting.

A run's thread touches its record (`beat_at`) every few seconds while it works; a
record still "running" but untouched for longer than `STALE_SECONDS` belongs to a
process that died or was stopped, and is read as interrupted, not as running forever.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, DateTime, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import EnumText, utcnow

__all__ = [
    "BEAT_SECONDS",
    "STALE_SECONDS",
    "BackgroundRun",
    "RunState",
    "live_runs",
    "touch_run",
]

BEAT_SECONDS = 5.0  # a live run touches its record at least this often
STALE_SECONDS = 60.0  # a "running" record untouched this long is interrupted


class RunState(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class BackgroundRun:
    """The columns of a background run's record (a mixin for a package's own table)."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    started_by: Mapped[str] = mapped_column(String(200), nullable=False)
    state: Mapped[RunState] = mapped_column(EnumText(RunState), nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    def interrupted(self, now: datetime | None = None) -> bool:
        """Whether the run says it is running but its process stopped reporting."""
        silent = (now or utcnow()) - self.beat_at
        return self.state == RunState.RUNNING and silent > timedelta(seconds=STALE_SECONDS)


Run = TypeVar("Run", bound=BackgroundRun)


def live_runs(session: Session, table: type[Run], *where: ColumnElement[bool]) -> list[Run]:
    """The table's runs (those `where` picks) still running in a process that reports."""
    running = session.scalars(select(table).where(table.state == RunState.RUNNING, *where))
    return [run for run in running if not run.interrupted()]


def touch_run(session: Session, table: type[BackgroundRun], run_id: str, **changes: Any) -> None:
    """Say the run is alive (and change some of its fields, its progress say); a run
    that has already ended is left as it ended."""
    session.execute(
        update(table)
        .where(table.id == run_id, table.state == RunState.RUNNING)
        .values(beat_at=utcnow(), **changes)
    )
