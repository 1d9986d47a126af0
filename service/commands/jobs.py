"""`sluice jobs`: submit and follow jobs (review and output checks: `service.commands.review`)."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from core.errors import InvalidInput
from service.commands.common import Json, domain, read_text
from service.output import emit, emit_rows, handles_errors, progress, wants_progress

if TYPE_CHECKING:
    from service.domain import Domain

jobs_app = typer.Typer(no_args_is_help=True, help="SQL and notebook jobs.")
JobId = Annotated[int, typer.Argument(help="The job's id (see `sluice jobs list`).")]
# how far along a job is, for the --wait bar (the API's job view uses the same stages)
PROGRESS = {"queued": 10, "running": 40, "awaiting_review": 100, "released": 100}


@jobs_app.command("submit")
@handles_errors("jobs.submit")
def jobs_submit(
    license: Annotated[int, typer.Option(help="The licence to run under.")],
    sql: Annotated[Path | None, typer.Option(help="A file holding one SQL query.")] = None,
    notebook: Annotated[Path | None, typer.Option(help="A Jupyter notebook (.ipynb).")] = None,
    engine: Annotated[str | None, typer.Option(help="duckdb or spark (default: license's)")] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Run the job now and wait for it, with a progress bar.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Submit a SQL query or a notebook; without --wait it runs in the background."""
    from jobs.submit import plan_query, policy_inputs, submit
    from operators.accounts import HOST_ADMIN
    from service.commands.worker import run_spark_job

    if (sql is None) == (notebook is None):
        raise InvalidInput.coded("cli_sql_or_notebook")
    d = domain()
    settings = d.settings.job_settings()
    planned = None
    if sql is not None:  # analysed before the transaction opens: it may take its whole budget
        query = read_text(sql, "SQL")
        with d.transaction() as session:
            inputs = policy_inputs(session, license)
        planned = plan_query(inputs, query, settings.epsilon_per_query, settings.query_budget)
    with d.transaction() as session:
        if notebook is not None:
            text = read_text(notebook, "notebook")
            job = submit(session, license, HOST_ADMIN, settings, notebook=text)
        else:
            job = submit(session, license, HOST_ADMIN, settings, sql=query, engine=engine,
                         planned=planned)  # fmt: skip
        job_id, status, on_spark = job.id, job.status, job.engine == "spark"
    if status == "queued" and on_spark:  # Spark jobs run on `sluice worker`s
        run_spark_job(d, job_id, wait)
    elif status == "queued":
        if wait:
            run_with_progress(d, job_id, as_json)
        else:
            subprocess.Popen(
                [sys.executable, "-m", "service.cli", "jobs", "run", str(job_id)],
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
    show_job(d, job_id, as_json)


def run_with_progress(d: Domain, job_id: int, as_json: bool) -> None:
    """Run the job here, moving a bar (stderr, people only) as its status changes."""
    from jobs.queries import get_job
    from jobs.runner import run

    if not wants_progress(as_json):
        run(d.sessions, d.home, job_id, d.settings.job_settings())
        return
    with progress(f"job {job_id}", 100, as_json) as step, ThreadPoolExecutor(1) as pool:
        running = pool.submit(run, d.sessions, d.home, job_id, d.settings.job_settings())
        while not running.done():
            with d.transaction() as session:
                status = get_job(session, job_id).status
            step(f"job {job_id}: {status}", PROGRESS.get(status, 100))
            time.sleep(0.2)
        status = running.result().status
        step(f"job {job_id}: {status}", 100)


# why a job runs on its engine (jobs.engines.EngineReason), as people read it
ENGINE_REASONS = {
    "requested": "named with --engine",
    "license_default": "the licence's default",
    "dataset_default": "a dataset's default",
    "system_default": "the system default",
}


def engine_line(job: dict) -> str:
    """`engine: spark (the licence's default)`; notebooks and older jobs give no reason."""
    why = ENGINE_REASONS.get(job.get("engine_reason") or "")
    return f"\n  engine: {job['engine']}" + (f" ({why})" if why else "")


def show_job(d: Domain, job_id: int, as_json: bool) -> None:
    from jobs.queries import get_job
    from products.release import release_of

    with d.transaction() as session:
        job = get_job(session, job_id)
        release = release_of(session, job_id)
        data = job.to_dict(release.files if release else [])
    emit(
        data,
        as_json,
        lambda j: (
            f"job {j['id']}: {j['status']}"
            + engine_line(j)
            + "".join(f"\n  - {r['message']}" for r in j["reasons"])
            + (f"\n  failure: {j['failure']}" if j["failure"] else "")
        ),
    )


@jobs_app.command("show")
@handles_errors("jobs.show")
def jobs_show(job_id: JobId, as_json: Json = False) -> None:
    """Show a job: its status, the policy's reasons, a failure."""
    show_job(domain(), job_id, as_json)


@jobs_app.command("list")
@handles_errors("jobs.list")
def jobs_list(as_json: Json = False) -> None:
    """List every job: status, kind, licence, submitted and finished times."""
    from jobs.queries import list_jobs

    with domain().transaction() as session:
        data = [j.to_dict() for j in list_jobs(session)]
    columns = [
        ("id", "job"),
        ("status", "status"),
        ("kind", "kind"),
        ("license_id", "licence"),
        ("submitted_by", "by"),
        ("created_at", "submitted (UTC)"),
        ("finished_at", "finished (UTC)"),
    ]
    emit_rows(data, as_json, columns, "no jobs")


@jobs_app.command("run", hidden=True)
@handles_errors("jobs.run")
def jobs_run(job_id: JobId, as_json: Json = False) -> None:
    """Run a queued job now (what the background runner does)."""
    from jobs.runner import run

    d = domain()
    job = run(d.sessions, d.home, job_id, d.settings.job_settings())
    emit(job.to_dict(), as_json, f"job {job.id}: {job.status}")
