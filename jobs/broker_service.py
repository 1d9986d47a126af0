"""What the notebook broker does for a request: every query is a child SQL job.

`query` submits the SQL through `jobs.submit.submit_sql` (licence check, the same
policy decision, ε charged to the licence's ledger in the same transaction as the
job row and its audit entries), with the notebook job as its parent, then runs it
through `jobs.runner.run` (private core in a sandbox of its own, the gate with noise,
partition selection and differencing, post-processing). The notebook gets the
released table only: the candidate a reviewer would see, never the core. `schema`
answers with the data dictionary of the licensed datasets (no data). `fit` trains a
DP model (jobs.dp_fit).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from catalog import get_dataset
from catalog.schema import DatasetSchema
from core.errors import SluiceError
from core.home import Home
from gate.step import RESULT_FILE, candidate_dir
from jobs.broker import NotebookBroker, Reply
from jobs.queries import get_job
from jobs.records import Job, JobStatus, public_failure, public_findings
from jobs.settings import JobSettings
from jobs.submit import submit_sql
from operators.accounts import Principal
from sandbox.runner import SandboxRun

__all__ = ["BrokerService", "data_dictionary", "serving"]

RunJob = Callable[[Callable[[], Session], Home, int, JobSettings], Job]


def data_dictionary(schema: DatasetSchema) -> dict[str, Any]:
    """One dataset's schema as a notebook reads it: levels, roles, bounds; no data."""
    columns = {
        c.name: {
            "level": c.level.value,
            "role": c.role.value,
            "type": c.stored_type,
            "bounds": list(c.bounds) if c.bounds is not None else None,
            "categories": list(c.categories) if c.categories is not None else None,
            "description": c.title or "",
        }
        for c in schema.stored_columns
    }
    return {"title": schema.title, "columns": columns}


@dataclass
class BrokerService:
    """Answers one notebook job's broker requests, each in its own transactions."""

    sessions: Callable[[], Session]
    home: Home
    parent_id: int
    settings: JobSettings
    run_job: RunJob  # jobs.runner.run, handed in by the runner that serves the notebook

    def __call__(self, request: dict[str, Any]) -> Reply:
        op = request.get("op")
        if op == "schema":
            return self.schema()
        if op == "query":
            sql = request.get("sql")
            if not isinstance(sql, str) or not sql.strip():
                return Reply.refused("bad_request", "query needs the SQL text")
            return self.query(sql)
        if op == "fit":
            from jobs.dp_fit import fit_request  # diffprivlib loads only for notebooks that fit

            return fit_request(self, request)
        return Reply.refused("bad_request", f"unknown request {op!r}; use query, schema or fit")

    def parent(self, session: Session) -> Job:
        return get_job(session, self.parent_id)

    def submitter(self, parent: Job) -> Principal:
        """The notebook's submitter, acting again for each child job."""
        return Principal(parent.submitted_by, "operator", parent.operator_id)

    def schema(self) -> Reply:
        with self.sessions() as session:
            parent = self.parent(session)
            names = list(parent.policy.get("datasets", []))
            found = {n: data_dictionary(get_dataset(session, n).schema()) for n in names}
        return Reply({"ok": True, "status": "ok", "schema": found})

    def query(self, sql: str) -> Reply:
        try:
            with self.sessions() as session, session.begin():
                parent = self.parent(session)
                child = submit_sql(
                    session,
                    parent.license_id,
                    self.submitter(parent),
                    sql,
                    self.settings,
                    parent_id=self.parent_id,
                )
                child_id, status, reasons = child.id, child.status, list(child.reasons)
        except SluiceError as exc:  # budget spent, licence stopped: the notebook is told why
            return Reply.refused("refused", exc.message, rule=getattr(exc, "rule", None))
        if status == JobStatus.DENIED:
            return Reply.refused("denied", "the policy engine denied the query", job=child_id,
                                 reasons=reasons)  # fmt: skip
        done = self.run_job(self.sessions, self.home, child_id, self.settings)
        return released_table(self.home, done)


def released_table(home: Home, job: Job) -> Reply:
    """The child job's released (post-processed) table, or why there is none."""
    if job.status != JobStatus.AWAITING_REVIEW:
        return Reply.refused(
            str(job.status),
            "the query's result was withheld" if job.status == JobStatus.BLOCKED else "no result",
            job=job.id,
            failure=public_failure(job.failure),
            findings=public_findings(job.gate),
        )
    table = pd.read_csv(candidate_dir(home, job) / RESULT_FILE)
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    facts = {"job": job.id, "rows": len(table), "epsilon": job.epsilon}
    return Reply({"ok": True, "status": "released", **facts}, buffer.getvalue())


@contextlib.contextmanager
def serving(
    sessions: Callable[[], Session],
    home: Home,
    job: tuple[int, str],
    run: SandboxRun,
    settings: JobSettings,
    run_job: RunJob,
) -> Iterator[None]:
    """Give a notebook run (`job` is its id and kind) its broker for as long as it runs;
    SQL runs get none. `run_job` runs each child query job (jobs.runner.run)."""
    job_id, kind = job
    if kind != "notebook":
        yield
        return
    service = BrokerService(sessions, home, job_id, settings, run_job)
    broker = NotebookBroker(service, max_requests=settings.broker_max_requests)
    run.broker = broker
    try:
        yield
    finally:
        broker.close()
