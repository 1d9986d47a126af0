"""Sandbox limits per license: the data authority may tighten or widen a license's jobs.

Kept in the sandbox's own table, keyed by license id; a license without a row gets
the domain's limits (settings). Every change is in the audit log.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction, append
from core.errors import InvalidInput
from jobs.records import LicenseLimits
from operators.licenses import get_license
from sandbox.limits import Limits


def limits_for(session: Session, license_id: int, default: Limits) -> Limits:
    """The limits a job under this license runs with: its own values over the default."""
    row = session.get(LicenseLimits, license_id)
    if row is None:
        return default
    return Limits(**{**default.to_dict(), **row.limits})


def set_license_limits(
    session: Session, license_id: int, values: dict[str, Any], actor: Actor
) -> dict[str, int]:
    """Set some limits for a license (others keep the default); an empty dict clears them."""
    get_license(session, license_id)  # NotFound for an unknown license
    known = set(Limits().to_dict())
    unknown = sorted(set(values) - known)
    if unknown:
        raise InvalidInput.coded("job_limits_unknown", unknown=unknown, known=sorted(known))
    Limits(**values)  # the same checks as any limits: positive integers
    row = session.get(LicenseLimits, license_id)
    if not values:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(LicenseLimits(license_id=license_id, limits=dict(values), set_by=actor.name))
    else:
        row.limits, row.set_by = dict(values), actor.name
    append(
        session, actor, AuditAction.LICENSE_LIMITS_SET, f"license:{license_id}", {"limits": values}
    )
    return dict(values)


def license_limits(session: Session, license_id: int) -> dict[str, int]:
    row = session.get(LicenseLimits, license_id)
    return dict(row.limits) if row is not None else {}
