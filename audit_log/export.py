"""JSON-lines export with a signed head, verifiable offline with the public key only."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log.records import AuditEntry
from audit_log.verify import Verification, verify_entries
from core.db import utcnow


def _signed_head(size: int, head_hash: str, key: Ed25519PrivateKey) -> dict[str, Any]:
    head: dict[str, Any] = {
        "type": "tree_head",
        "hash_suite": "sha256-chain",
        "size": size,
        "head_hash": head_hash,
        "signed_at": utcnow().isoformat(),
    }
    signature = key.sign(rfc8785.dumps(head))
    return {**head, "signature": base64.b64encode(signature).decode()}


def export_entries(session: Session, path: Path, key: Ed25519PrivateKey) -> dict[str, Any]:
    """Write every entry as a JSON line, then one signed head over the last entry."""
    count, last_hash = 0, "0" * 64
    with path.open("w", encoding="utf-8") as out:
        for row in session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).yield_per(2000):
            entry = row.to_dict()
            out.write(json.dumps({"type": "entry", **entry}, ensure_ascii=False) + "\n")
            count, last_hash = count + 1, entry["entry_hash"]
        head = _signed_head(count, last_hash, key)
        out.write(json.dumps(head) + "\n")
    return {"path": str(path), "entries": count, "head_hash": last_hash}


def verify_export(path: Path, public_key: Ed25519PublicKey) -> Verification:
    entries: list[dict[str, Any]] = []
    heads: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return Verification(False, len(entries), "", None, f"line {number} is not JSON")
        kind = record.pop("type", None)
        (entries if kind == "entry" else heads).append(record)
    result = verify_entries(entries)
    if not result.ok:
        return result
    if not heads:
        return Verification(False, result.entries, result.head_hash, None, "no signed head")
    head = heads[-1]
    signature = base64.b64decode(head.pop("signature", ""))
    try:
        public_key.verify(signature, rfc8785.dumps({"type": "tree_head", **head}))
    except InvalidSignature:
        return Verification(False, result.entries, result.head_hash, None, "bad head signature")
    if head["size"] != result.entries or head["head_hash"] != result.head_hash:
        first_bad = min(head["size"], result.entries) + 1
        return Verification(
            False, result.entries, result.head_hash, first_bad, "entries do not match signed head"
        )
    result.checks.append("signed head")
    return result
