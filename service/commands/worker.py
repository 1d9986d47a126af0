"""`sluice worker`: claim queued jobs from the shared database and run them on this host.

Start as many as the host has room for, on as many hosts as share the database
(PostgreSQL past one machine). SIGTERM or Ctrl-C stops after the current job.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Annotated

import typer

from service.commands.common import domain
from service.output import handles_errors

if TYPE_CHECKING:
    from service.domain import Domain


@handles_errors("worker")
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Handle at most one job, then exit.")
    ] = False,
    lease_seconds: Annotated[
        int | None, typer.Option(min=2, help="Lease length (default SLUICE_WORKER_LEASE_SECONDS).")
    ] = None,
    name: Annotated[str | None, typer.Option("--id", help="This worker's name (host:pid).")] = None,
) -> None:
    """Run queued jobs: DuckDB ones in this host's sandbox, Spark ones on SLUICE_SPARK_MASTER."""
    from audit_log import HeadTicker
    from jobs.worker import WorkerOptions, work, worker_name

    d = domain()
    options = WorkerOptions(
        name=worker_name(name),
        lease_seconds=lease_seconds or d.settings.worker_lease_seconds,
        spark_master=d.settings.spark_master,
    )
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    typer.echo(f"worker {options.name}: lease {options.lease_seconds}s", err=True)
    # a quiet log's tail gets a signed head within the interval, not at the next entry
    ticker = HeadTicker(d.sessions, d.settings.audit_head_seconds).start()
    warm = d.settings.job_settings().warm_pool(size=1)  # a worker runs one job at a time
    try:
        work(
            d.sessions,
            d.home,
            options,
            d.settings.job_settings(),
            once=once,
            should_stop=lambda: bool(stopping),
            report=lambda job, outcome: typer.echo(f"job {job}: {outcome}", err=True),
        )
    finally:
        ticker.stop()
        if warm is not None:
            warm.close()


def run_spark_job(d: Domain, job_id: int, wait: bool) -> None:
    """`jobs submit --engine spark`: run it here with --wait, else leave it to the workers."""
    from jobs.worker import WorkerOptions, work_one, worker_name

    if wait:
        options = WorkerOptions(
            worker_name(None), d.settings.worker_lease_seconds, spark_master=d.settings.spark_master
        )
        work_one(d.sessions, d.home, options, d.settings.job_settings(), job_id)
