"""Dataset ingest (数据归集) started from the console: the uploaded file goes through
`catalog.ingest`'s steps in the background while a page shows how many rows are done.

The upload waits in a private folder of the domain home only while it is ingested and
is removed whatever happens. A refused ingest leaves the catalog as it was (ingest
commits nothing half-done) and its refusal in the audit log, like any refused request.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, Any

from catalog.ingest import ingest_in_steps
from catalog.schema import DatasetSchema
from core.errors import Conflict, InvalidInput, NotFound, SluiceError
from operators.accounts import Principal
from service.domain import Domain
from service.web.background import Runs

__all__ = ["INGEST_ACTION", "IngestRun", "ingest_run", "start_ingest"]

INGEST_ACTION = "POST /console/admin/ingest"  # what refusals are recorded under
READABLE = (".csv", ".parquet", ".pq")


@dataclass(frozen=True)
class IngestRun:
    """One ingest started from the console: how far it got, and how it ended."""

    id: str
    home: str
    dataset: str
    source: str
    new_version: bool
    started_by: str
    state: str = "running"  # running | done | failed
    done: int = 0  # rows read so far
    total: int = 0  # rows the file holds (for CSV, counted from its lines)
    version: int | None = None
    problem: str | None = None
    suggestion: str | None = None
    problem_code: str | None = None  # the failure's message code and figures, if coded,
    figures: dict[str, Any] | None = None  # so the console words it in the reader's language
    schema_text: str = ""  # shown again in the form if the run fails

    @property
    def percent(self) -> int:
        if self.state == "done":
            return 100
        return min(99, 100 * self.done // self.total) if self.total else 0

    def to_dict(self) -> dict[str, Any]:
        hidden = ("home", "schema_text", "problem_code", "figures")
        shown = {k: v for k, v in asdict(self).items() if k not in hidden}
        catalog = f"/console/catalog#dataset-{self.dataset}" if self.state == "done" else None
        return {**shown, "percent": self.percent, "catalog": catalog}


_RUNS: Runs[IngestRun] = Runs()


def _key(domain: Domain, run_id: str) -> str:
    return f"ingest:{domain.home.root}:{run_id}"


def ingest_run(domain: Domain, run_id: str) -> IngestRun:
    run = _RUNS.get(_key(domain, run_id))
    if run is None:
        raise NotFound.coded(
            "ingest_run_missing",
            run_id=run_id,
        )
    return run


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
    while another ingest of the same dataset runs on this server."""
    name = upload_name(filename)
    source = _keep(domain.home.root / "uploads", upload, name)
    run = IngestRun(
        secrets.token_hex(8),
        str(domain.home.root),
        schema.dataset,
        name,
        new_version,
        who.name,
        schema_text=schema_text,
    )
    key = _key(domain, run.id)
    started = _RUNS.start(
        key,
        run,
        work=lambda: _ingest(domain, who, key, source, schema, new_version),
        failed=lambda error: _refused(domain, who, _now(key), error),
        clashes=lambda other: other.home == run.home and other.dataset == run.dataset,
    )
    if started is not run:
        shutil.rmtree(source.parent, ignore_errors=True)
        raise Conflict.coded(
            "ingest_running",
            name=schema.dataset,
            user=started.started_by,
        )
    return run


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
    key: str,
    source: Path,
    schema: DatasetSchema,
    new_version: bool,
) -> IngestRun:
    """Ingest with no write transaction open while the file is read (on SQLite one would
    stop every page that writes, logins included, until it ended); the upload is removed
    however it ends."""

    def rows_read(done: int, total: int) -> None:
        _RUNS.update(key, done=done, total=total)

    try:
        dataset = ingest_in_steps(
            domain.transaction,
            domain.home,
            source,
            schema,
            who.actor,
            new_version=new_version,
            rows_read=rows_read,
        )
    finally:
        shutil.rmtree(source.parent, ignore_errors=True)
    rows = dataset.row_count
    return replace(_now(key), state="done", done=rows, total=rows, version=dataset.version)


def _now(key: str) -> IngestRun:
    run = _RUNS.get(key)
    assert run is not None  # a run's record stays once started
    return run


def _refused(domain: Domain, who: Principal, run: IngestRun, error: Exception) -> IngestRun:
    """Put the failure on the record, as the API does for a refused or failed request:
    a refusal with its message, anything else by incident number and exception type."""
    incident = secrets.token_hex(6)
    said = error if isinstance(error, SluiceError) else _failed(incident)
    problem, suggestion = said.message, said.suggestion
    code, figures = said.message_code, said.figures
    try:
        if isinstance(error, SluiceError):
            domain.record_refusal(who.actor, INGEST_ACTION, error)
        else:
            domain.record_failure(who.actor, INGEST_ACTION, incident, type(error).__name__)
    except Exception:  # noqa: BLE001  the run must still end, and say what is missing
        problem += " (and it could not be recorded in the audit log)"
        code = figures = None  # the sentence says more than its code: keep it whole
    return replace(
        run,
        state="failed",
        problem=problem,
        suggestion=suggestion,
        problem_code=code,
        figures=figures,
    )


def _failed(incident: str) -> SluiceError:
    """An ingest that failed by accident, told by incident number alone."""
    return SluiceError.coded("svc_ingest_failed", incident=incident)
