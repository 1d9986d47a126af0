"""The regulator's read-only view of the audit log."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from audit_log import AuditEntry
from service.deps import RegulatorDep, SessionDep

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("/entries")
def audit_entries(
    _who: RegulatorDep,
    s: SessionDep,
    after: int = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: str | None = None,
) -> list[dict[str, Any]]:
    query = select(AuditEntry).where(AuditEntry.seq > after)
    if action:
        query = query.where(AuditEntry.action == action)
    return [e.to_dict() for e in s.scalars(query.order_by(AuditEntry.seq).limit(limit))]
