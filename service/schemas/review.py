"""Review (出域审核) and releases as the API shows them. Reviewers see every figure; the
findings here are the full ones, never an operator's."""

from __future__ import annotations

from typing import Any

from service.schemas import Number, Out
from service.schemas.jobs import GateFinding, JobOut

__all__ = ["QueueItem", "ReleaseOut", "ReleaseRecord", "ReviewedJob", "ReviewView"]


class ReleaseOut(Out):
    id: int
    job_id: int
    package: str
    sha256: str
    files: list[str]
    withheld: list[str]
    encryption: str | None
    at: str


class ReleaseRecord(ReleaseOut):
    """A release with its signed manifest (the same document the package carries)."""

    manifest: dict[str, Any]


class ReviewedJob(JobOut):
    """A job after a reviewer's decision, with its release once enough approvals are in."""

    release: ReleaseOut | None


class QueueItem(Out):
    job: int
    kind: str
    operator: str | None
    license: int
    level: str
    datasets: list[str]
    custom: list[str]
    findings: int
    waiting_since: str | None
    required_reviews: int
    approvals: list[str]
    exception_approvals: list[str]


class ReviewSource(Out):
    kind: str
    submitted: str
    rewritten_sql: str | None
    executed_notebook: str | None


class ReviewChecks(Out):
    blocked: bool | None
    rules: dict[str, Any] | None
    counts: dict[str, int]
    unlisted: int
    differencing: dict[str, Any]
    findings: list[GateFinding]


class LineageDataset(Out):
    name: str
    version: int
    title: str
    owner: str


class LineageLicense(Out):
    id: int
    operator: str
    purpose: str
    max_level: str
    row_filters: dict[str, str]
    valid_until: str
    status: str


class ReviewLineage(Out):
    datasets: list[LineageDataset]
    license: LineageLicense
    policy_version: str | None
    level: str
    epsilon: Number
    noise: list[dict[str, Any]]
    notes: list[str]
    noted: list[dict[str, Any]] = []  # each note's code and figures, for other languages
    submitted_by: str


class ReviewRecordOut(Out):
    reviewer: str
    decision: str
    reason: str
    exception: bool
    at: str


class ReviewState(Out):
    required_reviews: int
    approvals: list[str]
    exception_approvals: list[str]
    releasable_tables: list[str]
    custom_needing_exception: list[str]
    reviews: list[ReviewRecordOut]


class ReviewView(Out):
    """Everything a reviewer needs to decide on one job's outputs, with every figure.

    `outputs` describes each candidate file as the gate saw it, with a preview."""

    job: JobOut
    source: ReviewSource
    outputs: list[dict[str, Any]]
    checks: ReviewChecks
    lineage: ReviewLineage
    review: ReviewState
    release: ReleaseOut | None
