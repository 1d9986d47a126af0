"""Inclusion and consistency proofs as self-contained documents a regulator checks offline.

A document carries the signed tree head(s) it is relative to, so checking one needs
only the domain's public key: the head's signature, then the RFC 9162 proof.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log.heads import head_at, latest_head
from audit_log.merkle import (
    HASH_SIZE,
    HashSuite,
    NodeSource,
    consistency_proof,
    get_suite,
    inclusion_proof,
    needed_nodes,
    verify_consistency,
    verify_inclusion,
)
from audit_log.records import AuditEntry, LogConfig
from audit_log.signing import Verifier, head_signature_ok
from audit_log.state import DEFAULT_SUITE, entry_digests, node_seq
from core.errors import Conflict, InvalidInput, NotFound, Step


@dataclass
class ProofCheck:
    ok: bool
    problem: str | None = None
    checks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problem": self.problem, "checks": self.checks}


def prove_stored(session: Session, prover: Callable[[NodeSource], list[bytes]]) -> list[bytes]:
    """Run a prover over the subtree hashes stored beside the entries, fetched in one query."""
    seqs = {node_seq(level, index) for level, index in needed_nodes(prover)}
    blobs = dict(
        session.execute(
            select(AuditEntry.seq, AuditEntry.tree_nodes).where(AuditEntry.seq.in_(seqs))
        ).all()
    )

    def node(level: int, index: int) -> bytes:
        blob = blobs.get(node_seq(level, index)) or b""
        found = blob[level * HASH_SIZE : (level + 1) * HASH_SIZE]
        if len(found) != HASH_SIZE:
            raise Conflict.coded(
                "audit_tree_hashes_missing",
                seq=node_seq(level, index),
                suggestion="verify the log to find out why",
                step=Step.VERIFY_LOG,
            )
        return found

    return prover(node)


def stored_suite(session: Session) -> HashSuite:
    config = session.get(LogConfig, 1)
    return get_suite(config.hash_suite if config else DEFAULT_SUITE)


def inclusion_document(session: Session, seq: int, tree_size: int | None = None) -> dict[str, Any]:
    """Proof that entry `seq` is in the log of a signed size (the latest head by default)."""
    entry = session.get(AuditEntry, seq)
    if entry is None:
        raise NotFound.coded("audit_entry_missing", seq=seq)
    head = head_at(session, tree_size) if tree_size is not None else latest_head(session)
    if head is None:
        raise Conflict.coded(
            "audit_entry_unsigned_none",
            seq=seq,
            suggestion="sign a tree head now, or wait for the next interval",
            step=Step.SIGN_HEAD,
        )
    if head.size < seq:
        raise Conflict.coded(
            "audit_entry_unsigned",
            seq=seq,
            size=head.size,
            suggestion="sign a tree head now, or wait for the next interval",
            step=Step.SIGN_HEAD,
        )
    suite = stored_suite(session)
    fields = entry.to_dict()
    _digest, leaf = entry_digests(suite, fields)
    proof = prove_stored(session, lambda node: inclusion_proof(suite, node, seq - 1, head.size))
    if not verify_inclusion(suite, seq - 1, head.size, leaf, proof, bytes.fromhex(head.root_hash)):
        raise Conflict.coded(
            "audit_inclusion_unproven",
            seq=seq,
            size=head.size,
            suggestion="verify the log",
            step=Step.VERIFY_LOG,
        )
    return {
        "type": "inclusion_proof",
        "hash_suite": suite.name,
        "leaf_index": seq - 1,
        "tree_size": head.size,
        "entry": fields,
        "leaf_hash": leaf.hex(),
        "proof": [p.hex() for p in proof],
        "tree_head": head.to_dict(),
    }


def consistency_document(session: Session, old: int, new: int) -> dict[str, Any]:
    """Proof that the signed log of size `old` is a prefix of the signed log of size `new`."""
    if not 0 < old <= new:
        raise InvalidInput.coded("audit_consistency_range", old=old, new=new)
    old_head, new_head = head_at(session, old), head_at(session, new)
    suite = stored_suite(session)
    proof = prove_stored(session, lambda node: consistency_proof(suite, node, old, new))
    roots = bytes.fromhex(old_head.root_hash), bytes.fromhex(new_head.root_hash)
    if not verify_consistency(suite, old, new, *roots, proof):
        raise Conflict.coded(
            "audit_consistency_unproven",
            old=old,
            new=new,
            suggestion="verify the log",
            step=Step.VERIFY_LOG,
        )
    return {
        "type": "consistency_proof",
        "hash_suite": suite.name,
        "old_size": old,
        "new_size": new,
        "proof": [p.hex() for p in proof],
        "old_head": old_head.to_dict(),
        "new_head": new_head.to_dict(),
    }


def _hashes(values: Any) -> list[bytes]:
    if not isinstance(values, list):
        raise ValueError("the proof is not a list of hashes")
    return [bytes.fromhex(v) for v in values]


def _signed_root(head: Any, suite: HashSuite, size: Any, verifier: Verifier) -> bytes:
    if not isinstance(head, dict):
        raise ValueError("the document carries no tree head")
    if not head_signature_ok(head, verifier):
        raise ValueError(f"the tree head at size {head.get('size')} has a bad signature")
    if head.get("hash_suite") != suite.name or head.get("size") != size:
        raise ValueError("the tree head does not match the proof's hash suite or size")
    return bytes.fromhex(str(head.get("root_hash")))


def check_proof(document: dict[str, Any], verifier: Verifier) -> ProofCheck:
    """Check an inclusion or consistency document offline, with only the public key."""
    try:
        suite = get_suite(str(document.get("hash_suite")))
        proof = _hashes(document.get("proof"))
        if document.get("type") == "inclusion_proof":
            return _check_inclusion(document, suite, proof, verifier)
        if document.get("type") == "consistency_proof":
            old, new = document.get("old_size"), document.get("new_size")
            old_root = _signed_root(document.get("old_head"), suite, old, verifier)
            new_root = _signed_root(document.get("new_head"), suite, new, verifier)
            if not (type(old) is int and type(new) is int):
                raise ValueError("the proof's sizes are not integers")
            if not verify_consistency(suite, old, new, old_root, new_root, proof):
                raise ValueError(f"the log of size {old} is not proven a prefix of size {new}")
            return ProofCheck(True, None, ["signed heads", "consistency"])
        raise ValueError("not a Sluice proof document (type inclusion_proof or consistency_proof)")
    except (ValueError, TypeError) as error:
        return ProofCheck(False, str(error))


def _check_inclusion(
    document: dict[str, Any], suite: HashSuite, proof: list[bytes], verifier: Verifier
) -> ProofCheck:
    entry, index, size = (
        document.get("entry"),
        document.get("leaf_index"),
        document.get("tree_size"),
    )
    root = _signed_root(document.get("tree_head"), suite, size, verifier)
    if not isinstance(entry, dict) or type(index) is not int or type(size) is not int:
        raise ValueError("the document lacks the entry, its index or the tree size")
    digest, leaf = entry_digests(suite, entry)
    if digest != entry.get("entry_hash"):
        raise ValueError("the entry does not match its own hash")
    if entry.get("seq") != index + 1:
        raise ValueError(f"entry {entry.get('seq')} cannot sit at leaf index {index}")
    if not verify_inclusion(suite, index, size, leaf, proof, root):
        raise ValueError(f"entry {entry.get('seq')} is not proven in the log of size {size}")
    return ProofCheck(True, None, ["signed head", "entry hash", "inclusion"])
