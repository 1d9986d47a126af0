"""Shapes every area shares: a reason for a refusal, an error as RFC 9457 problem details,
and a page of a list (cursor pagination)."""

from __future__ import annotations

from typing import Any, Literal

from service.schemas import Out, Sparse

__all__ = ["FieldErrorOut", "HealthOut", "ProblemOut", "ReasonOut"]


class ReasonOut(Sparse):
    """Why a query or output was refused (`core.errors.Reason`), with what to do about it."""

    rule: str
    message: str
    column: str | None = None
    level: str | None = None
    suggestion: str | None = None
    figures: dict[str, Any] | None = None  # what the message is made from, for other languages


class HealthOut(Out):
    """The service answers: the process is up and its routes are mounted."""

    status: Literal["ok"]


class FieldErrorOut(Sparse):
    """One part of a request that did not validate: where and what (never the value sent)."""

    loc: list[str]
    msg: str
    type: str


class ProblemOut(Sparse):
    """A refused or failed request, as `application/problem+json` (RFC 9457).

    `type` is `urn:sluice:problem:<error>`; `error` is the same code as a plain member;
    `suggestion` says what to do next, worded for an API client."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    error: str
    suggestion: str | None = None
    reasons: list[ReasonOut] | None = None
    incident: str | None = None  # an unexpected failure: the id the audit entry keeps
    errors: list[FieldErrorOut] | None = None
    code: str | None = None  # the sentence's code in core.messages, when it has one
    figures: dict[str, Any] | None = None  # the facts `detail` was made from
