"""The audit log as a regulator reads it: entries, signed tree heads, proofs, verification."""

from __future__ import annotations

from typing import Any, Literal

from service.schemas import Out

__all__ = ["AuditEntryOut", "ConsistencyProof", "InclusionProof", "TreeHeadOut", "VerificationOut"]


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
