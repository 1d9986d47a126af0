"""Ingest runs (数据归集任务): the record of one ingest working in the background, kept
in the database so every server process, and a restarted one, shows the same progress
and outcome.

At most one live run per dataset: another is refused while one runs, unless that one's
process has stopped reporting (then it is interrupted, not running).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base, utcnow
from core.errors import Conflict, NotFound, SluiceError
from core.runs import BackgroundRun, RunState, live_runs, touch_run

__all__ = [
    "IngestRunRecord",
    "begin_ingest_run",
    "fail_ingest_run",
    "finish_ingest_run",
    "get_ingest_run",
    "ingest_run_progress",
]


class IngestRunRecord(BackgroundRun, Base):
    __tablename__ = "ingest_runs"

    dataset: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    source: Mapped[str] = mapped_column(String(200), nullable=False)  # the file's own name
    new_version: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    rows_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the version made
    # a failure: its registered sentence's code and figures, else its message only
    error_code: Mapped[str | None] = mapped_column(String(60), nullable=True)
    error_figures: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    problem: Mapped[str | None] = mapped_column(Text, nullable=True)
    suggestion: Mapped[str | None] = mapped_column(Text, nullable=True)
    schema_text: Mapped[str] = mapped_column(Text, nullable=False, default="")


def begin_ingest_run(
    session: Session,
    run_id: str,
    started_by: str,
    dataset: str,
    source: str,
    new_version: bool,
    schema_text: str = "",
) -> IngestRunRecord:
    """A new run's record; Conflict while another run of the dataset is live."""
    live = live_runs(session, IngestRunRecord, IngestRunRecord.dataset == dataset)
    if live:
        raise Conflict.coded("ingest_running", name=dataset, user=live[0].started_by)
    run = IngestRunRecord(
        id=run_id,
        started_by=started_by,
        state=RunState.RUNNING,
        dataset=dataset,
        source=source,
        new_version=new_version,
        schema_text=schema_text,
    )
    session.add(run)
    session.flush()
    return run


def ingest_run_progress(session: Session, run_id: str, done: int, total: int) -> None:
    touch_run(session, IngestRunRecord, run_id, rows_done=done, rows_total=total)


def finish_ingest_run(session: Session, run_id: str, version: int, rows: int) -> None:
    run = get_ingest_run(session, run_id)
    run.state, run.finished_at, run.version = RunState.DONE, utcnow(), version
    run.rows_done = run.rows_total = rows


def fail_ingest_run(session: Session, run_id: str, error: SluiceError) -> None:
    """End the run with `error`'s sentence (and its code and figures, if registered)."""
    run = get_ingest_run(session, run_id)
    run.state, run.finished_at = RunState.FAILED, utcnow()
    run.problem, run.suggestion = error.message, error.suggestion
    run.error_code, run.error_figures = error.message_code, _plain(error.figures)


def _plain(figures: dict[str, Any] | None) -> dict[str, Any] | None:
    """The figures as JSON keeps them: numbers and text as they are, anything else as text."""
    if figures is None:
        return None
    kept = (str, int, float, bool, type(None))
    return {name: v if isinstance(v, kept) else str(v) for name, v in figures.items()}


def get_ingest_run(session: Session, run_id: str) -> IngestRunRecord:
    run = session.get(IngestRunRecord, run_id)
    if run is None:
        raise NotFound.coded(
            "ingest_run_missing",
            run_id=run_id,
        )
    return run
