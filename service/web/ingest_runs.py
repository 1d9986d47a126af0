"""Dataset ingest (数据归集) started from the console: the uploaded file goes through
`catalog.ingest`'s steps in the background while a page shows how many rows are done.

The run's record is in the database (catalog.ingest_runs), so every server process
shows the same progress and outcome, and one whose process died reads as interrupted.
The upload waits in a private folder of the domain home only while it is ingested and
is removed whatever happens. A refused ingest leaves the catalog as it was (ingest
commits nothing half-done) and its refusal in the audit log, like any refused request.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from catalog.ingest import ingest_in_steps
from catalog.ingest_runs import (
    IngestRunRecord,
    begin_ingest_run,
    fail_ingest_run,
    finish_ingest_run,
    get_ingest_run,
    ingest_run_progress,
)
from catalog.schema import DatasetSchema
from core.errors import InvalidInput, SluiceError
from core.runs import STALE_SECONDS, touch_run
from operators.accounts import Principal
from service.background import at_most_every, run_in_background
from service.domain import Domain

__all__ = ["INGEST_ACTION", "IngestRun", "ingest_run", "start_ingest"]

INGEST_ACTION = "POST /console/admin/ingest"  # what refusals are recorded under
READABLE = (".csv", ".parquet", ".pq")
PROGRESS_SECONDS = 0.5  # rows read are written at most this often


@dataclass(frozen=True)
class IngestRun:
    """One ingest started from the console, as a page shows it: how far it got, and how
    it ended."""

    id: str
    dataset: str
    source: str
    new_version: bool
    started_by: str
    state: str = "running"  # running | done | failed (an interrupted run too)
    done: int = 0  # rows read so far
    total: int = 0  # rows the file holds (for CSV, counted from its lines)
    version: int | None = None
    problem: str | None = None
    suggestion: str | None = None
    code: str | None = None  # the problem's registered sentence, if it has one
    figures: dict[str, Any] | None = None
    interrupted: bool = False
    schema_text: str = ""  # shown again in the form if the run fails

    @classmethod
    def of(cls, record: IngestRunRecord) -> IngestRun:
        """The page's view of a record; a run whose process stopped reporting has failed."""
        run = cls(
            record.id,
            record.dataset,
            record.source,
            record.new_version,
            record.started_by,
            str(record.state),
            record.rows_done,
            record.rows_total,
            record.version,
            record.problem,
            record.suggestion,
            record.error_code,
            record.error_figures,
            schema_text=record.schema_text,
        )
        if not record.interrupted():
            return run
        stopped = SluiceError.coded("ingest_interrupted", name=record.dataset)
        return cls(
            **{**asdict(run), "state": "failed", "interrupted": True, **_problem_fields(stopped)}
        )

    @property
    def percent(self) -> int:
        if self.state == "done":
            return 100
        return min(99, 100 * self.done // self.total) if self.total else 0

    def error(self) -> SluiceError:
        """The failure as the error it was, so the console words it in its own language."""
        return SluiceError(
            self.problem or "",
            suggestion=self.suggestion,
            message_code=self.code,
            figures=self.figures,
        )

    def to_dict(self) -> dict[str, Any]:
        shown = {k: v for k, v in asdict(self).items() if k != "schema_text"}
        catalog = f"/console/catalog#dataset-{self.dataset}" if self.state == "done" else None
        return {**shown, "percent": self.percent, "catalog": catalog}


def _problem_fields(error: SluiceError) -> dict[str, Any]:
    return {
        "problem": error.message,
        "suggestion": error.suggestion,
        "code": error.message_code,
        "figures": error.figures,
    }


def ingest_run(domain: Domain, run_id: str) -> IngestRun:
    with domain.transaction() as session:
        return IngestRun.of(get_ingest_run(session, run_id))


def upload_name(filename: str | None) -> str:
    """The uploaded file's own name (no folders), if ingest can read that kind of file."""
    name = Path(filename or "").name.strip()[-120:]
    if not name.lower().endswith(READABLE):
        if not name:
            raise InvalidInput.coded("svc_upload_kind_unnamed")
        raise InvalidInput.coded("svc_upload_kind", name=name)
    return name


def start_ingest(
    domain: Domain,
    who: Principal,
    upload: IO[bytes],
    filename: str | None,
    schema: DatasetSchema,
    schema_text: str = "",
    new_version: bool = False,
) -> IngestRun:
    """Keep the upload in the domain and ingest it in the background; refused at once
    while another ingest of the same dataset runs, on this server or another."""
    name = upload_name(filename)
    run_id = secrets.token_hex(8)
    with domain.transaction() as session:
        begin_ingest_run(session, run_id, who.name, schema.dataset, name, new_version, schema_text)
    uploads = domain.home.root / "uploads"
    _sweep(uploads)
    try:
        source = _keep(uploads, upload, name)
    except Exception as error:  # the run must not wait for a thread that never starts
        _refused(domain, who, run_id, error)
        raise
    run_in_background(
        f"ingest-{run_id}",
        work=lambda: _ingest(domain, who, run_id, source, schema, new_version),
        failed=lambda error: _refused(domain, who, run_id, error),
        beat=lambda: _beat(domain, run_id, source.parent),
    )
    return ingest_run(domain, run_id)


def _beat(domain: Domain, run_id: str, folder: Path) -> None:
    """Touch the run's record, and its upload's folder: one untouched as long as a run
    is read as interrupted belongs to a process that died, and `_sweep` removes it."""
    with contextlib.suppress(FileNotFoundError):  # gone once the run has ended
        os.utime(folder)
    with domain.transaction() as session:
        touch_run(session, IngestRunRecord, run_id)


def _sweep(uploads: Path) -> None:
    """Remove uploads left by runs whose process died: they hold raw data."""
    if not uploads.is_dir():
        return
    stale = time.time() - STALE_SECONDS
    for folder in uploads.glob(".ingest-*"):
        with contextlib.suppress(OSError):  # another server may be removing it too
            if folder.stat().st_mtime < stale:
                shutil.rmtree(folder)


def _keep(uploads: Path, upload: IO[bytes], name: str) -> Path:
    """The upload as a file of its own name, in a fresh 0700 folder (it holds raw data)."""
    uploads.mkdir(mode=0o700, exist_ok=True)
    source = Path(tempfile.mkdtemp(prefix=".ingest-", dir=uploads)) / name
    with source.open("wb") as kept:
        shutil.copyfileobj(upload, kept)
    return source


def _ingest(
    domain: Domain,
    who: Principal,
    run_id: str,
    source: Path,
    schema: DatasetSchema,
    new_version: bool,
) -> None:
    """Ingest with no write transaction open while the file is read (on SQLite one would
    stop every page that writes, logins included, until it ended); the upload is removed
    however it ends."""

    def rows_read(done: int, total: int) -> None:
        with domain.transaction() as session:
            ingest_run_progress(session, run_id, done, total)

    try:
        dataset = ingest_in_steps(
            domain.transaction,
            domain.home,
            source,
            schema,
            who.actor,
            new_version=new_version,
            rows_read=at_most_every(PROGRESS_SECONDS, rows_read),
        )
    finally:
        shutil.rmtree(source.parent, ignore_errors=True)
    with domain.transaction() as session:
        finish_ingest_run(session, run_id, dataset.version, dataset.row_count)


def _refused(domain: Domain, who: Principal, run_id: str, error: Exception) -> None:
    """Put the failure on the record, as the API does for a refused or failed request:
    a refusal with its message, anything else by incident number and exception type."""
    if isinstance(error, SluiceError):
        ended = error
    else:
        incident = secrets.token_hex(6)
        ended = SluiceError.coded("svc_ingest_failed", incident=incident)
    try:
        if isinstance(error, SluiceError):
            domain.record_refusal(who.actor, INGEST_ACTION, error)
        else:
            domain.record_failure(who.actor, INGEST_ACTION, incident, type(error).__name__)
    except Exception:  # noqa: BLE001  the run must still end, and say what is missing
        ended = SluiceError(
            ended.message + " (and it could not be recorded in the audit log)",
            suggestion=ended.suggestion,
        )
    with domain.transaction() as session:
        fail_ingest_run(session, run_id, ended)
