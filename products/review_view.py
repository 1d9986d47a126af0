"""What a reviewer sees (出域审核): the queue, and one output with everything behind it.

The view holds the submitted SQL or notebook and the SQL that actually ran, every
output (tables as previews, custom files described), every check with its figures,
and the lineage: datasets and their versions, the license, the policy version.
Figures are for domain staff only; operators see findings through `Job.to_dict`.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog import get_dataset
from core.errors import NotFound
from core.home import Home
from gate.step import candidate_files
from jobs.queries import get_job, job_dir
from jobs.records import Job, JobStatus
from operators.records import License, Operator, User
from products.records import Review
from products.release import release_of, released_files
from products.review import (
    EXCEPTION_REVIEWERS,
    REVIEWER_ROLES,
    custom_outputs,
    review_queue,
    reviews_of,
)

__all__ = ["PAGE_ROWS", "decision_history", "queue_items", "review_view"]

PAGE_ROWS = 100  # a reviewer pages through the whole table, this many rows at a time
PREVIEW_TEXT_BYTES = 4000


def _waiting_on(session: Session, job: Job) -> dict[str, Any]:
    reviews = reviews_of(session, job.id)
    approvals = [r for r in reviews if r.decision == "approve"]
    needed = job.required_reviews
    if any(r.exception for r in approvals):
        needed = max(needed, EXCEPTION_REVIEWERS)
    return {
        "required_reviews": needed,
        "approvals": [r.reviewer for r in approvals],
        "exception_approvals": [r.reviewer for r in approvals if r.exception],
    }


def queue_items(session: Session, reviewer: User | None = None) -> list[dict[str, Any]]:
    """Outputs awaiting review, oldest first; with a reviewer, only those they may review."""
    items = []
    for job in review_queue(session):
        operator = session.get(Operator, job.operator_id)
        state = _waiting_on(session, job)
        if reviewer is not None and (
            reviewer.role not in REVIEWER_ROLES
            or reviewer.name in state["approvals"]
            or (reviewer.operator_id is not None and reviewer.operator_id == job.operator_id)
        ):
            continue
        items.append(
            {
                "job": job.id,
                "kind": job.kind,
                "operator": operator.name if operator else None,
                "license": job.license_id,
                "level": job.level,
                "datasets": job.policy.get("datasets", []),
                "custom": custom_outputs(job),
                "findings": len(job.gate.get("findings", [])),
                "waiting_since": job.finished_at.isoformat() if job.finished_at else None,
                **state,
            }
        )
    return items


def _lineage(session: Session, job: Job) -> dict[str, Any]:
    license = session.get(License, job.license_id)
    operator = session.get(Operator, job.operator_id)
    assert license is not None and operator is not None
    datasets = []
    for name in job.policy.get("datasets", []):
        record = get_dataset(session, name)
        datasets.append(
            {"name": name, "version": record.version, "title": record.title, "owner": record.owner}
        )
    return {
        "datasets": datasets,
        "license": {
            "id": license.id,
            "operator": operator.name,
            "purpose": license.purpose,
            "max_level": license.max_level,
            "row_filters": dict(license.row_filters or {}),
            "valid_until": license.valid_until.isoformat(),
            "status": license.status,
        },
        "policy_version": job.policy.get("policy_version"),
        "level": job.level,
        "epsilon": job.epsilon,
        "noise": job.policy.get("noise", []),
        "notes": job.policy.get("notes", []),
        "noted": job.policy.get("noted", []),
        "submitted_by": job.submitted_by,
    }


def _preview(name: str, kind: str, path: Any, page: int) -> dict[str, Any]:
    if kind == "table":
        table = pd.read_csv(path)
        pages = max(1, -(-len(table) // PAGE_ROWS))
        page = min(max(page, 0), pages - 1)
        shown = table.iloc[page * PAGE_ROWS : (page + 1) * PAGE_ROWS]
        rows = json.loads(shown.to_json(orient="records", force_ascii=False))
        return {
            "columns": list(table.columns),
            "rows": len(table),
            "preview": rows,
            "page": page,
            "pages": pages,
            "first_row": page * PAGE_ROWS,
        }
    data = path.read_bytes()
    try:
        text: str | None = data[:PREVIEW_TEXT_BYTES].decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {"bytes": len(data), "text": text}


def _outputs(home: Home, job: Job, page: int) -> list[dict[str, Any]]:
    described = {f["name"]: f for f in job.gate.get("files", [])}
    shown = []
    for name, path in candidate_files(home, job).items():
        about = described.get(name, {"kind": "table"})
        kind = str(about.get("kind", "table"))
        shown.append({"name": name, "kind": kind, **about, **_preview(name, kind, path, page)})
    return shown


def _executed_notebook(home: Home, job: Job) -> str | None:
    """The notebook as it ran, which the sandbox keeps in the job's review/ folder."""
    notebooks = sorted((job_dir(home, job) / "review").glob("*.ipynb"))
    return notebooks[0].read_text("utf-8", errors="replace") if notebooks else None


def review_view(session: Session, home: Home, job_id: int, page: int = 0) -> dict[str, Any]:
    """Everything a reviewer needs to decide on one job's outputs, with every figure;
    `page` picks which PAGE_ROWS rows of each table are shown."""
    job = get_job(session, job_id)
    if job.status in (JobStatus.DENIED, JobStatus.QUEUED, JobStatus.RUNNING):
        raise NotFound.coded("job_no_outputs", job_id=job_id, status=str(job.status))
    release = release_of(session, job_id)
    tables, custom = released_files(job, exception=False)
    return {
        "job": job.to_dict(release.files if release else []),
        "source": {
            "kind": job.kind,
            "submitted": job.source,
            "rewritten_sql": job.rewritten_sql,
            "executed_notebook": _executed_notebook(home, job) if job.kind == "notebook" else None,
        },
        "outputs": _outputs(home, job, page),
        "checks": {
            "blocked": job.gate.get("blocked"),
            "rules": job.gate.get("rules"),
            "counts": job.gate.get("counts", {}),
            "unlisted": job.gate.get("unlisted", 0),
            "differencing": job.gate.get("differencing", {}),
            "findings": job.gate.get("findings", []),
        },
        "lineage": _lineage(session, job),
        "review": {
            **_waiting_on(session, job),
            "releasable_tables": tables,
            "custom_needing_exception": custom,
            "reviews": [r.to_dict() for r in reviews_of(session, job_id)],
        },
        "release": release.to_dict() if release else None,
    }


def decision_history(session: Session, limit: int = 200) -> list[dict[str, Any]]:
    """The latest review decisions, newest first, with the job each was about."""
    rows = session.execute(
        select(Review, Job, Operator)
        .join(Job, Job.id == Review.job_id)
        .join(Operator, Operator.id == Job.operator_id)
        .order_by(Review.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            **review.to_dict(),
            "job": job.id,
            "job_status": job.status,
            "kind": job.kind,
            "level": job.level,
            "operator": operator.name,
        }
        for review, job, operator in rows
    ]
