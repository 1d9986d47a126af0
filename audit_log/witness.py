"""Witnesses: signed heads kept outside the domain, so no insider can shorten or fork the log.

A witness is a directory (one file per head, written once, never replaced) or a URL
that takes each head by HTTP POST, the way Certificate Transparency witnesses and
Rekor keep logs honest. Each pushed head carries an RFC 9162 consistency proof
from the witness's previous head, so a witness can check it holds an extension.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from audit_log.heads import checkpoint
from audit_log.merkle import consistency_proof, verify_consistency
from audit_log.proofs import prove_stored, stored_suite
from audit_log.ranges import verify_store
from audit_log.records import TreeHead
from audit_log.signing import Verifier
from audit_log.verify import Verification
from core.errors import Conflict, InvalidInput

HEAD_FILE = "sth-{size:012d}.json"
PUSH_TIMEOUT_SECONDS = 10


@dataclass
class PushResult:
    target: str
    pushed: dict[str, Any] | None
    witnessed_before: int
    verification: Verification

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "pushed_size": self.pushed["size"] if self.pushed else None,
            "witnessed_before": self.witnessed_before,
            "verification": self.verification.to_dict(),
        }


def parse_heads(text: str) -> list[dict[str, Any]]:
    """Tree heads from what a regulator kept: `audit heads --json`, one head, or JSON lines.

    JSON lines may be an export (its `tree_head` lines are taken) or a witness log.
    """
    text = text.strip()
    if not text:
        return []
    try:
        found: Any = json.loads(text)
        records = found if isinstance(found, list) else [found]
    except json.JSONDecodeError:
        try:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError:
            raise InvalidInput.coded("audit_heads_unreadable") from None
    heads = []
    for record in records:
        if not isinstance(record, dict):
            raise InvalidInput.coded("audit_head_not_object")
        if record.get("type") in ("log", "entry"):
            continue
        head = record.get("head", record)  # a pushed head wraps the head with its proof
        if not isinstance(head, dict) or "root_hash" not in head or "signature" not in head:
            raise InvalidInput.coded("audit_record_not_head")
        heads.append({k: v for k, v in head.items() if k != "type"})
    return heads


def read_witness_dir(folder: Path) -> list[dict[str, Any]]:
    """Every head a directory witness holds, by size."""
    if not folder.is_dir():
        return []
    heads: list[dict[str, Any]] = []
    for path in sorted(folder.glob("sth-*.json")):
        heads += parse_heads(path.read_text(encoding="utf-8"))
    return sorted(heads, key=lambda h: int(h["size"]))


def _pushed_record(
    session: Session, head: TreeHead, previous: dict[str, Any] | None
) -> dict[str, Any]:
    record: dict[str, Any] = {"type": "witnessed_head", "head": head.to_dict()}
    if previous is not None and previous["size"] < head.size:
        suite = stored_suite(session)
        old = previous["size"]
        proof = prove_stored(session, lambda node: consistency_proof(suite, node, old, head.size))
        roots = bytes.fromhex(previous["root_hash"]), bytes.fromhex(head.root_hash)
        if not verify_consistency(suite, old, head.size, *roots, proof):
            raise Conflict.coded("audit_witness_inconsistent", size=old)
        record["consistency"] = {"from_size": old, "proof": [p.hex() for p in proof]}
    return record


def _write_once(folder: Path, record: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / HEAD_FILE.format(size=record["head"]["size"])
    data = json.dumps(record, ensure_ascii=False, indent=1) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    except FileExistsError:
        if parse_heads(path.read_text(encoding="utf-8")) != [record["head"]]:
            raise Conflict.coded("audit_witness_different", file=path.name) from None
        return
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(data)


def _post(url: str, record: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(record, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=PUSH_TIMEOUT_SECONDS) as response:
            if not 200 <= response.status < 300:
                raise Conflict.coded("audit_witness_status", url=url, http_status=response.status)
    except urllib.error.HTTPError as error:
        raise Conflict.coded("audit_witness_refused", url=url, http_status=error.code) from None
    except (urllib.error.URLError, OSError) as error:
        raise Conflict.coded("audit_witness_unreachable", url=url, detail=str(error)) from None


def push_heads(
    session: Session,
    target: str,
    verifier: Verifier,
    kept: Iterable[dict[str, Any]] = (),
) -> PushResult:
    """Sign the log as it stands and hand the head to a witness (a folder or an http(s) URL).

    The log is first checked against what the witness already holds (a folder's heads,
    or `kept` for a URL): a domain never pushes past a head it cannot extend.
    """
    is_url = target.startswith(("http://", "https://"))
    held = list(kept) if is_url else read_witness_dir(Path(target))
    verification = verify_store(session, verifier, held)
    if not verification.ok:
        return PushResult(target, None, len(held), verification)
    head = checkpoint(session, reason="witness")
    previous = max(held, key=lambda h: int(h["size"])) if held else None
    if previous is not None and previous["size"] >= head.size:
        return PushResult(target, None, len(held), verification)
    record = _pushed_record(session, head, previous)
    if is_url:
        _post(target, record)
    else:
        _write_once(Path(target), record)
    return PushResult(target, record["head"], len(held), verification)
