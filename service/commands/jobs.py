"""`sluice jobs`: submit and follow jobs (review and output checks: `service.commands.review`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from core.errors import InvalidInput
from jobs.queries import get_job, list_jobs
from jobs.runner import run
from jobs.submit import plan_query, policy_inputs, submit
from operators.accounts import HOST_ADMIN
from products.release import release_of
from service.commands.common import Json, domain, read_text
from service.commands.worker import run_spark_job
from service.domain import Domain
from service.output import emit, handles_errors

jobs_app = typer.Typer(no_args_is_help=True, help="SQL and notebook jobs.")


@jobs_app.command("submit")
@handles_errors("jobs.submit")
def jobs_submit(
    license: Annotated[int, typer.Option()],
    sql: Annotated[Path | None, typer.Option()] = None,
    notebook: Annotated[Path | None, typer.Option()] = None,
    engine: Annotated[str | None, typer.Option(help="duckdb or spark (default: license's)")] = None,
    wait: Annotated[bool, typer.Option("--wait")] = False,
    as_json: Json = False,
) -> None:
    """Submit a SQL query or a notebook; without --wait it runs in the background."""
    if (sql is None) == (notebook is None):
        raise InvalidInput("give exactly one of --sql FILE or --notebook FILE")
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
            status = run(d.sessions, d.home, job_id, d.settings.job_settings()).status
        else:
            subprocess.Popen(
                [sys.executable, "-m", "service.cli", "jobs", "run", str(job_id)],
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
    show_job(d, job_id, as_json)


def show_job(d: Domain, job_id: int, as_json: bool) -> None:
    with d.transaction() as session:
        job = get_job(session, job_id)
        release = release_of(session, job_id)
        data = job.to_dict(release.files if release else [])
    emit(
        data,
        as_json,
        lambda j: (
            f"job {j['id']}: {j['status']}"
            + "".join(f"\n  - {r['message']}" for r in j["reasons"])
            + (f"\n  failure: {j['failure']}" if j["failure"] else "")
        ),
    )


@jobs_app.command("show")
@handles_errors("jobs.show")
def jobs_show(job_id: int, as_json: Json = False) -> None:
    show_job(domain(), job_id, as_json)


@jobs_app.command("list")
@handles_errors("jobs.list")
def jobs_list(as_json: Json = False) -> None:
    with domain().transaction() as session:
        data = [j.to_dict() for j in list_jobs(session)]
    emit(
        data,
        as_json,
        lambda rows: (
            "\n".join(f"{r['id']}\t{r['status']}\tlicense {r['license_id']}" for r in rows)
            or "no jobs"
        ),
    )


@jobs_app.command("run", hidden=True)
@handles_errors("jobs.run")
def jobs_run(job_id: int, as_json: Json = False) -> None:
    """Run a queued job now (what the background runner does)."""
    d = domain()
    job = run(d.sessions, d.home, job_id, d.settings.job_settings())
    emit(job.to_dict(), as_json, f"job {job.id}: {job.status}")
