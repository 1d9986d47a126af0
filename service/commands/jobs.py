"""`sluice jobs|review|outputs`: submit and follow jobs, review outputs, check tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from core.errors import InvalidInput
from operators.accounts import HOST_ADMIN, get_user
from products.release import release_of
from products.review import review
from sandbox.jobs import get_job, list_jobs, run, submit_sql
from service.commands.common import Json, domain, read_text
from service.domain import Domain
from service.output import emit, handles_errors

jobs_app = typer.Typer(no_args_is_help=True, help="SQL and notebook jobs.")
review_app = typer.Typer(no_args_is_help=True, help="Output review (出域审核).")
outputs_app = typer.Typer(no_args_is_help=True, help="Output checks.")


@jobs_app.command("submit")
@handles_errors("jobs.submit")
def jobs_submit(
    license: Annotated[int, typer.Option()],
    sql: Annotated[Path | None, typer.Option()] = None,
    notebook: Annotated[Path | None, typer.Option()] = None,
    engine: Annotated[str, typer.Option()] = "duckdb",
    wait: Annotated[bool, typer.Option("--wait")] = False,
    as_json: Json = False,
) -> None:
    """Submit a query; without --wait it runs in the background."""
    if (sql is None) == (notebook is None):
        raise InvalidInput("give exactly one of --sql FILE or --notebook FILE")
    if notebook is not None:
        raise InvalidInput("notebook jobs are not supported yet; submit SQL with --sql")
    d = domain()
    assert sql is not None
    with d.transaction() as session:
        job = submit_sql(
            session, license, HOST_ADMIN, read_text(sql, "SQL"), d.settings.job_settings(), engine
        )
        job_id, status = job.id, job.status
    if status == "queued":
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


def _review(job: int, reviewer: str, decision: str, reason: str, as_json: bool) -> None:
    d = domain()
    with d.transaction() as session:
        user = get_user(session, reviewer)
        review(session, d.home, job, user, decision, reason)
    show_job(d, job, as_json)


@review_app.command("approve")
@handles_errors("review.approve")
def review_approve(
    job: int, reviewer: Annotated[str, typer.Option()], reason: str = "", as_json: Json = False
) -> None:
    _review(job, reviewer, "approve", reason, as_json)


@review_app.command("deny")
@handles_errors("review.deny")
def review_deny(
    job: int, reviewer: Annotated[str, typer.Option()], reason: str = "", as_json: Json = False
) -> None:
    _review(job, reviewer, "deny", reason, as_json)


@outputs_app.command("check")
@handles_errors("outputs.check")
def outputs_check(file: Path, as_json: Json = False) -> None:
    """Run the disclosure checks on a table (CSV or Parquet with companion columns)."""
    from policies.table_file import check_file

    data = check_file(file)
    emit(
        data,
        as_json,
        lambda r: (
            f"{'BLOCKED' if r['blocked'] else 'passes'}: "
            f"{len(r['findings'])} finding(s), {r['suppressed_share']:.0%} suppressed"
        ),
    )
