"""The audit log as a regulator reads it: entries, signed tree heads, proofs, verification."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from service.schemas import Out

__all__ = [
    "AuditEntryOut",
    "ConsistencyProof",
    "InclusionProof",
    "LogStatusOut",
    "TreeHeadOut",
    "VerificationOut",
    "VerificationRunOut",
]


class AuditEntryOut(Out):
    """One entry exactly as it is hashed into the log (the evidence, not an index)."""

    seq: int
    at: str
    actor: str
    role: str
    action: str
    subject: str
    details: dict[str, Any]
    prev_hash: str
    entry_hash: str


class TreeHeadOut(Out):
    """A signed tree head (STH): the log's size and Merkle root, signed by the domain key."""

    size: int
    root_hash: str
    hash_suite: str
    signature_algorithm: str
    key_id: str
    timestamp: str
    signature: str
    reason: str


class InclusionProof(Out):
    type: Literal["inclusion_proof"]
    hash_suite: str
    leaf_index: int
    tree_size: int
    entry: AuditEntryOut
    leaf_hash: str
    proof: list[str]
    tree_head: TreeHeadOut


class ConsistencyProof(Out):
    type: Literal["consistency_proof"]
    hash_suite: str
    old_size: int
    new_size: int
    proof: list[str]
    old_head: TreeHeadOut
    new_head: TreeHeadOut


class VerificationOut(Out):
    ok: bool
    entries: int
    head_hash: str
    first_bad_seq: int | None
    problem: str | None
    checks: list[str]
    hash_suite: str | None
    root_hash: str | None
    signed_size: int
    heads: int
    unsigned_tail: int
    witnessed: int


class VerificationRunOut(Out):
    """One full verification of the live log, run in the background: its progress while
    it runs (`checked` of `total` entries) and, once `done`, its `result`. `failed` means
    it stopped without a result (the check itself failed, or the server running it
    stopped: `interrupted`), never that the log is at fault; a fault is `done` with
    `result.ok` false."""

    id: str
    state: Literal["running", "done", "failed"]
    checked: int
    total: int
    ok: bool | None
    problem: str | None
    started_by: str
    source: str
    started_at: datetime
    finished_at: datetime | None
    interrupted: bool
    result: VerificationOut | None


class LogStatusOut(Out):
    """What can be said of the log at once, without verifying it in full: whether the
    latest signed head's signature verifies with the domain key, how many entries came
    after it, and the latest full verification (cached; none runs for this answer).
    `ok` is true when the head verifies and the latest full result, if any, passed."""

    ok: bool
    entries: int
    signed_head: TreeHeadOut | None
    signed_head_ok: bool
    after_head: int
    latest: VerificationRunOut | None  # the latest started, perhaps still running
    last_result: VerificationRunOut | None  # the latest with a result
