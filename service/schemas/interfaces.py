"""Interface products: a call's answer, consents, and the published annual disclosure."""

from __future__ import annotations

from typing import Any

from service.schemas import Out

__all__ = ["CallOut", "ConsentOut", "DisclosureVerifyOut"]


class CallOut(Out):
    """One answered call: a scoring output or the released table, never features."""

    call: int
    interface: int
    kind: str
    consent: int | None
    output: dict[str, Any] | None
    rows: list[dict[str, Any]] | None
    epsilon: float
    fee_yuan: float


class ConsentOut(Out):
    id: int
    interface_id: int
    key_id: int
    subject: str
    purpose: str
    valid_until: str
    evidence: str
    status: str
    revoked_at: str | None
    at: str


class DisclosureVerifyOut(Out):
    ok: bool
    problems: list[str]
