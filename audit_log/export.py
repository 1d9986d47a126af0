"""JSON-lines exports: a header, every entry, and the signed tree heads among them.

An export ends with a signed head over all of its entries, so a regulator needs
nothing but the domain's public key (`sluice audit pubkey`) to verify it offline.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log.heads import checkpoint
from audit_log.merkle import get_suite
from audit_log.offline import check_lines
from audit_log.records import TreeHead
from audit_log.signing import (
    Ed25519Signer,
    Ed25519Verifier,
    Signer,
    Sm2Verifier,
    Verifier,
    session_signer,
)
from audit_log.verify import LogChecker, Tampered, Verification, stored_entries
from core.db import utcnow
from core.errors import InvalidInput
from core.sm2 import Sm2PublicKey

EXPORT_FORMAT = "sluice.audit_export/v1"


def export_entries(
    session: Session,
    path: Path,
    key: Ed25519PrivateKey | None = None,
    signer: Signer | None = None,
) -> dict[str, Any]:
    """Sign the log as it stands, then write it and all its heads to `path` as JSON lines."""
    if signer is None:
        signer = Ed25519Signer(lambda: key) if key is not None else session_signer(session)
    if signer is None:
        raise InvalidInput.coded("audit_export_no_key")
    final = checkpoint(session, signer, reason="export")
    heads = {
        h.size: h for h in session.scalars(select(TreeHead).where(TreeHead.size <= final.size))
    }
    count, last_hash = 0, ""
    with path.open("w", encoding="utf-8") as out:
        header = {
            "type": "log",
            "format": EXPORT_FORMAT,
            "hash_suite": final.hash_suite,
            "signature_algorithm": final.signature_algorithm,
            "key_id": final.key_id,
            "entries": final.size,
            "exported_at": utcnow().isoformat(timespec="seconds") + "Z",
        }
        out.write(json.dumps(header) + "\n")
        for entry, _nodes, _operator, _license in stored_entries(session, final.size):
            out.write(json.dumps({"type": "entry", **entry}, ensure_ascii=False) + "\n")
            count, last_hash = entry["seq"], entry["entry_hash"]
            if count in heads:
                out.write(json.dumps({"type": "tree_head", **heads[count].to_dict()}) + "\n")
    return {
        "path": str(path),
        "entries": count,
        "head_hash": last_hash,
        "root_hash": final.root_hash,
        "hash_suite": final.hash_suite,
        "heads": len(heads),
    }


def _as_verifier(public_key: Ed25519PublicKey | Sm2PublicKey | Verifier) -> Verifier:
    if isinstance(public_key, Ed25519PublicKey):
        return Ed25519Verifier(public_key)
    if isinstance(public_key, Sm2PublicKey):
        return Sm2Verifier(public_key)
    return public_key


def verify_export(
    path: Path,
    public_key: Ed25519PublicKey | Sm2PublicKey | Verifier,
    workers: int | None = None,
    chunk_lines: int = 20_000,
    kept: Iterable[dict[str, Any]] = (),
) -> Verification:
    """Verify an export with only the public key: every entry, every head, full coverage.

    `workers` processes share the hashing (default: several for a large file, else one).
    `kept` heads (a witness's) must each be a prefix of the export.
    """
    verifier = _as_verifier(public_key)
    with path.open(encoding="utf-8") as lines:
        try:
            header = json.loads(lines.readline() or "null")
        except json.JSONDecodeError:
            header = None
        if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
            return Verification(False, 0, "", None, "line 1 is not a Sluice audit export header")
        try:
            suite = get_suite(str(header.get("hash_suite")))
        except ValueError as error:
            return Verification(False, 0, "", None, str(error))
        checker = LogChecker(suite, verifier)
        try:
            for head in kept:
                checker.keep(head)
            check_lines(checker, lines, 2, workers, chunk_lines)
            return checker.finish(require_signed_tail=True)
        except Tampered as error:
            return checker.result(False, [], error)
