"""Licenses: which datasets an operator may use, up to which level, for what, until when.

A license is checked on every use; an expired or revoked one refuses at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import Actor, append
from catalog.schema import DatasetSchema
from core.errors import Conflict, InvalidInput, LicenseInvalid, NotFound
from core.levels import Level
from operators.accounts import get_operator
from operators.records import License, Operator
from policies.rewrite import parse_row_filter

DEFAULT_EPSILON = 10.0


def grant_license(
    session: Session,
    *,
    operator: str,
    schemas: Mapping[str, DatasetSchema],
    max_level: str,
    purpose: str,
    valid_until: date,
    actor: Actor,
    row_filter: str | None = None,
    epsilon: float = DEFAULT_EPSILON,
) -> License:

    company = get_operator(session, operator)
    try:
        level = Level(max_level.upper())
    except ValueError:
        raise InvalidInput(f"unknown level {max_level!r}; use L1, L2 or L3") from None
    if level is Level.L4:
        raise InvalidInput("L4 core data never enters the domain; licenses go up to L3")
    if not purpose.strip():
        raise InvalidInput("a license needs a purpose; describe the scenario (应用场景)")
    if valid_until <= date.today():
        raise InvalidInput(f"--until {valid_until} is not in the future; give a later date")
    if epsilon <= 0:
        raise InvalidInput(f"--epsilon must be positive, got {epsilon}")
    if not schemas:
        raise InvalidInput("a license needs at least one --dataset")
    if row_filter:
        parse_row_filter(row_filter, schemas)
    record = License(
        operator_id=company.id,
        datasets=sorted(schemas),
        max_level=level.value,
        purpose=purpose.strip(),
        valid_until=valid_until,
        row_filter=row_filter or None,
        epsilon_total=float(epsilon),
        granted_by=actor.name,
    )
    session.add(record)
    session.flush()
    append(
        session,
        actor,
        "license.granted",
        f"license:{record.id}",
        {"operator": company.name, **record.to_dict(company.name)},
    )
    return record


def get_license(session: Session, license_id: int) -> License:
    record = session.get(License, license_id)
    if record is None:
        raise NotFound(f"no license with id {license_id}; see `sluice licenses list`")
    return record


def usable_license(session: Session, license_id: int) -> License:
    """The license, if it may be used today; LicenseInvalid says why not."""
    record = get_license(session, license_id)
    if record.status != "active":
        raise LicenseInvalid(
            f"license {license_id} is {record.status}; ask the data authority for a new one"
        )
    if record.valid_until < date.today():
        raise LicenseInvalid(
            f"license {license_id} expired on {record.valid_until}; apply for a renewal"
        )
    return record


def list_licenses(session: Session, operator_id: int | None = None) -> list[tuple[License, str]]:
    query = select(License, Operator.name).join(Operator, Operator.id == License.operator_id)
    if operator_id is not None:
        query = query.where(License.operator_id == operator_id)
    return [(row[0], row[1]) for row in session.execute(query.order_by(License.id))]


def revoke_license(session: Session, license_id: int, actor: Actor, reason: str = "") -> License:
    record = get_license(session, license_id)
    if record.status == "revoked":
        raise Conflict(f"license {license_id} is already revoked")
    record.status = "revoked"
    append(session, actor, "license.revoked", f"license:{license_id}", {"reason": reason})
    return record
