"""The job table: one row per submitted SQL query or notebook, with its whole history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, EnumText, FailureText, utcnow
from core.failures import FailureKind, JobFailure
from gate.findings import operator_gate
from policies.engine import Decision


class JobStatus(StrEnum):
    """Where a job is (see `jobs.lifecycle` for the moves); stored as the plain value."""

    DENIED = "denied"  # the policy engine refused it at submission; it never runs
    QUEUED = "queued"
    RUNNING = "running"
    FAILED = "failed"  # a limit, a rule, an engine error or its license stopped it
    BLOCKED = "blocked"  # the output gate stopped its outputs
    AWAITING_REVIEW = "awaiting_review"
    RELEASED = "released"
    REJECTED = "rejected"  # a reviewer denied its outputs


def public_findings(gate: dict[str, Any]) -> list[dict[str, Any]]:
    """Which cell failed which rule, without the figures behind it (gate.findings)."""
    return list(operator_gate(gate).get("findings", []))


# What an operator reads in place of an engine error's message, after its first words.
ERROR_WITHHELD = "a reviewer can see the full message"


def public_failure(failure: str | None) -> str | None:
    """A failure as its operator sees it: engine errors can quote data values (e.g. a bad
    cast), so an error keeps only its first words; the other kinds are shown whole."""
    if failure is None:
        return None
    typed = JobFailure.parse(failure)
    if typed.kind is not FailureKind.ERROR:
        return str(typed)
    source = typed.detail.split(":")[0][:80]
    return f"error: {source}; {ERROR_WITHHELD}"


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id"), nullable=False, index=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), nullable=False, index=True)
    submitted_by: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # sql | notebook
    # the notebook job whose broker submitted this one (a `query()` or `fit()` call)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), nullable=True, index=True)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    source_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    engine: Mapped[str] = mapped_column(String(20), default="duckdb")
    decision: Mapped[Decision] = mapped_column(EnumText(Decision), nullable=False)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    rewritten_sql: Mapped[str | None] = mapped_column(Text, nullable=True)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    level: Mapped[str] = mapped_column(String(2), default="L1")
    epsilon: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[JobStatus] = mapped_column(EnumText(JobStatus), nullable=False, index=True)
    failure: Mapped[JobFailure | None] = mapped_column(FailureText, nullable=True)
    outputs: Mapped[list[str]] = mapped_column(JSON, default=list)
    gate: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    required_reviews: Mapped[int] = mapped_column(Integer, default=1)
    resources: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    def to_dict(
        self, released: list[str] | None = None, for_operator: bool = False
    ) -> dict[str, Any]:
        """The job as shown; operators get findings without figures (they could reveal n=1)."""
        gate = operator_gate(self.gate) if for_operator else self.gate
        failure = public_failure(self.failure) if for_operator else self.failure
        return {
            "id": self.id,
            "license_id": self.license_id,
            "kind": self.kind,
            "parent_id": self.parent_id,
            "engine": self.engine,
            "status": self.status,
            "decision": self.decision,
            "reasons": self.reasons,
            "sql": self.source if self.kind == "sql" else None,
            "rewritten_sql": self.rewritten_sql,
            "level": self.level,
            "epsilon": self.epsilon,
            "failure": failure,
            "outputs": self.outputs,
            "released": released or [],
            "gate": gate,
            "required_reviews": self.required_reviews,
            "submitted_by": self.submitted_by,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


class LicenseLimits(Base):
    """Sandbox limits set for one license, over the domain's defaults (sandbox.limits.Limits)."""

    __tablename__ = "sandbox_limits"

    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id"), primary_key=True)
    limits: Mapped[dict[str, int]] = mapped_column(JSON, nullable=False)
    set_by: Mapped[str] = mapped_column(String(200), nullable=False)
    set_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
