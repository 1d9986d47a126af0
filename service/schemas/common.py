"""Shapes every area shares: a reason for a refusal, and the JSON body of an error."""

from __future__ import annotations

from service.schemas import Sparse

__all__ = ["ErrorOut", "ReasonOut"]


class ReasonOut(Sparse):
    """Why a query or output was refused (`core.errors.Reason`), with what to do about it."""

    rule: str
    message: str
    column: str | None = None
    level: str | None = None
    suggestion: str | None = None


class ErrorOut(Sparse):
    """A refused request: a code, what was wrong, and what to do next (worded for the API)."""

    error: str
    message: str
    suggestion: str | None = None
    reasons: list[ReasonOut] | None = None
    incident: str | None = None  # an unexpected failure: the id the audit entry keeps
