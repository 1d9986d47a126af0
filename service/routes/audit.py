"""The regulator's read-only view of the audit log: entries, alerts, heads, proofs, checks.

Regulators only (and admins). Nothing here changes the domain; a failed
verification is recorded by the system as an alert, as any failure is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse

from audit_log import (
    EntryFilter,
    consistency_document,
    inclusion_document,
    latest_head,
    list_alerts,
    list_entries,
    list_heads,
    record_failed_verification,
    verify_store,
)
from core.errors import NotFound
from service.deps import DomainDep, RegulatorDep, SessionDep
from service.pagination import Cursor, Page, decode_cursor, page_of
from service.schemas.audit import (
    AuditEntryOut,
    ConsistencyProof,
    InclusionProof,
    TreeHeadOut,
    VerificationOut,
)

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
def audit_verify(_who: RegulatorDep, s: SessionDep, d: DomainDep) -> VerificationOut:
    result = verify_store(s, unsigned_seconds=2 * d.settings.audit_head_seconds)
    if not result.ok:
        record_failed_verification(s, result.first_bad_seq, result.problem, "api")
    return VerificationOut.model_validate(result.to_dict())


@router.get("/pubkey", response_class=PlainTextResponse)
def audit_pubkey(_who: RegulatorDep, d: DomainDep) -> str:
    return d.home.public_key_path.read_text(encoding="ascii")
