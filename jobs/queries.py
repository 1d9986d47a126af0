"""Looking jobs up: by id (scoped to a company), by company, and their folders."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFound, Step
from core.home import Home
from jobs.records import Job


def get_job(
    session: Session, job_id: int, operator_id: int | None = None, lock: bool = False
) -> Job:
    """A job by id; scoped to one company when `operator_id` is given (others are not found).

    `lock` takes the row for this transaction (FOR UPDATE on PostgreSQL), so two
    runners cannot both start the same queued job.
    """
    job = session.get(Job, job_id, with_for_update=lock)
    if job is None or (operator_id is not None and job.operator_id != operator_id):
        raise NotFound.coded(
            "job_missing", suggestion="list your jobs", step=Step.LIST_JOBS, job_id=job_id
        )
    return job


def list_jobs(session: Session, operator_id: int | None = None) -> list[Job]:
    query = select(Job).order_by(Job.id)
    if operator_id is not None:
        query = query.where(Job.operator_id == operator_id)
    return list(session.scalars(query))


def job_dir(home: Home, job: Job) -> Path:
    return home.jobs / str(job.id)
