"""The regulator's read-only view of the audit log: entries, alerts, heads, proofs, checks.

Regulators only (and admins). Nothing here changes the domain; a failed
verification is recorded by the system as an alert, as any failure is. A full
verification reads the whole log, so it never runs inside a request: POST
/verifications starts one in the background, and GET /verify answers at once from
the signed head and the latest full result.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import PlainTextResponse

from audit_log import (
    EntryFilter,
    consistency_document,
    inclusion_document,
    latest_head,
    list_alerts,
    list_entries,
    list_heads,
)
from core.errors import NotFound
from service.deps import DomainDep, RegulatorDep, SessionDep
from service.pagination import Cursor, Page, decode_cursor, page_of
from service.schemas.audit import (
    AuditEntryOut,
    ConsistencyProof,
    InclusionProof,
    LogStatusOut,
    TreeHeadOut,
    VerificationRunOut,
)
from service.verifications import badge, start_verification, verification

# ids are database integers: anything past them is refused as input, not a 500
OptionalId = Annotated[int | None, Query(ge=1, le=2_147_483_647)]
router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Limit = Annotated[int, Query(ge=1, le=1000)]
Seq = Annotated[int, Query(ge=0)]


def _utc(moment: datetime | None) -> datetime | None:
    """The log stores naive UTC; a zoned time is converted, a naive one is taken as UTC."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _past(after: int, cursor: str | None) -> int:
    """Where a page starts: past both the `after` filter and the cursor's last key."""
    last = decode_cursor(cursor, kind=int)
    return max(after, int(last or 0))


def _filter(
    operator_id: int | None,
    license_id: int | None,
    dataset: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
    after: int,
) -> EntryFilter:
    return EntryFilter(operator_id, license_id, dataset, action, _utc(since), _utc(until), after)


@router.get("/entries")
def audit_entries(
    _who: RegulatorDep,
    s: SessionDep,
    operator_id: OptionalId = None,
    license_id: OptionalId = None,
    dataset: str | None = None,
    action: Annotated[str | None, Query(description="exact, or a prefix ending in '.'")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: Seq = 0,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[AuditEntryOut]:
    where = _filter(operator_id, license_id, dataset, action, since, until, _past(after, cursor))
    found = [AuditEntryOut.model_validate(e.to_dict()) for e in list_entries(s, where, limit + 1)]
    return page_of(found, lambda e: e.seq, limit)


@router.get("/alerts")
def audit_alerts(
    _who: RegulatorDep,
    s: SessionDep,
    rule: str | None = None,
    operator_id: OptionalId = None,
    license_id: OptionalId = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: Seq = 0,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[AuditEntryOut]:
    where = _filter(operator_id, license_id, None, rule, since, until, _past(after, cursor))
    found = [AuditEntryOut.model_validate(e.to_dict()) for e in list_alerts(s, where, limit + 1)]
    return page_of(found, lambda e: e.seq, limit)


@router.get("/heads")
def audit_heads(
    _who: RegulatorDep,
    s: SessionDep,
    after_size: Seq = 0,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[TreeHeadOut]:
    after = _past(after_size, cursor)
    found = [TreeHeadOut.model_validate(h.to_dict()) for h in list_heads(s, after, limit + 1)]
    return page_of(found, lambda h: h.size, limit)


@router.get("/heads/latest")
def audit_latest_head(_who: RegulatorDep, s: SessionDep) -> TreeHeadOut:
    head = latest_head(s)
    if head is None:
        raise NotFound.coded("svc_no_tree_head")
    return TreeHeadOut.model_validate(head.to_dict())


@router.get("/proofs/inclusion/{seq}")
def audit_inclusion(
    seq: Annotated[int, Path(ge=1, le=2_147_483_647)],
    _who: RegulatorDep,
    s: SessionDep,
    tree_size: OptionalId = None,
) -> InclusionProof:
    return InclusionProof.model_validate(inclusion_document(s, seq, tree_size))


@router.get("/proofs/consistency")
def audit_consistency(
    _who: RegulatorDep,
    s: SessionDep,
    old: Annotated[int, Query(ge=1, le=2_147_483_647)],
    new: Annotated[int, Query(ge=1, le=2_147_483_647)],
) -> ConsistencyProof:
    return ConsistencyProof.model_validate(consistency_document(s, old, new))


@router.get("/verify")
def audit_verify(_who: RegulatorDep, s: SessionDep) -> LogStatusOut:
    """At once, without reading the log: the latest signed head's signature, the entries
    after it, and the latest full verification (start one with POST /verifications)."""
    status = badge(s)
    latest, last = status.pop("full"), status.pop("last_result")
    return LogStatusOut.model_validate(
        {**status, "latest": _run(latest) if latest["id"] else None, "last_result": _run(last)}
    )


STARTED = (
    "Accepted: a full verification runs in the background; follow it at Location. If one "
    "is already running, that one is answered instead of starting another (docs/api.md)."
)
RunId = Annotated[str, Path(min_length=1, max_length=32)]


@router.post("/verifications", status_code=202, response_description=STARTED)
def audit_verification_start(
    who: RegulatorDep, d: DomainDep, response: Response
) -> VerificationRunOut:
    """Start a full verification of the live log: every entry's hash, the Merkle tree and
    every signed head; a fault it finds is also raised as an alert."""
    check, _new = start_verification(d, who.name, "api")
    response.headers["Location"] = f"/api/v1/audit/verifications/{check.id}"
    return VerificationRunOut.model_validate(check.to_dict())


@router.get("/verifications/{run_id}")
def audit_verification(run_id: RunId, _who: RegulatorDep, d: DomainDep) -> VerificationRunOut:
    """A full verification's progress and, once `done`, its result."""
    return VerificationRunOut.model_validate(verification(d, run_id).to_dict())


def _run(check: dict | None) -> VerificationRunOut | None:
    return None if check is None else VerificationRunOut.model_validate(check)


@router.get("/pubkey", response_class=PlainTextResponse)
def audit_pubkey(_who: RegulatorDep, d: DomainDep) -> str:
    return d.home.public_key_path.read_text(encoding="ascii")
