"""A license's life: an operator applies; the data authority approves (possibly narrowed)
or refuses; an active license can be suspended, reinstated, revoked, and it expires.

    (apply) ──▶ pending ──▶ active ──▶ suspended ──▶ active
                   │          │  │          │
                   ▼          │  └──────────┴──▶ revoked
                refused       └──▶ expired (term passed; `expire_licenses`)

Every step writes its audit entry in the caller's transaction. A narrowed approval
may only take away: fewer datasets, a lower level, an earlier end, less ε, and row
filters added or tightened (a new filter for a dataset already filtered applies with
the old one, never instead of it).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction, append
from catalog import get_dataset
from catalog.row_filter import conjoin, parse_row_filter, parse_row_filters, render
from catalog.schema import DatasetSchema
from core.db import utcnow
from core.errors import Conflict, InvalidInput, PermissionDenied
from core.levels import Level
from operators.licenses import check_terms, checked_row_filters, get_license
from operators.records import DEFAULT_DELTA, License, LicenseStatus, Operator

DECIDERS = ("authority", "admin")


def _schemas(session: Session, names: list[str]) -> dict[str, DatasetSchema]:
    return {name: get_dataset(session, name).schema() for name in sorted(set(names))}


def _decider(actor: Actor) -> None:
    if actor.role not in DECIDERS:
        raise PermissionDenied.coded("license_decision_role", role=str(actor.role))


def _in_state(record: License, *states: LicenseStatus) -> None:
    status = record.effective_status()
    if status not in states:
        needed = " or ".join(states)
        raise Conflict.coded(
            "license_wrong_state", license_id=record.id, status=str(status), states=needed
        )


def _narrower_level(asked: str | None, applied: Level) -> Level:
    if not asked:
        return applied
    try:
        level = Level(asked.upper())
    except ValueError:
        raise InvalidInput.coded("level_unknown", level=asked) from None
    if level.rank > applied.rank:
        raise InvalidInput.coded("level_widened", level=str(level), applied=str(applied))
    return level


def apply_for_license(
    session: Session,
    *,
    operator_id: int,
    datasets: list[str],
    max_level: str,
    purpose: str,
    scenario: str,
    valid_until: date,
    epsilon: float,
    actor: Actor,
    valid_from: date | None = None,
    row_filters: dict[str, str] | None = None,
    delta: float = DEFAULT_DELTA,
) -> License:
    """File an application (status `pending`); nothing may run under it until approved.

    An operator may ask for only some rows (`row_filters`, per dataset); approval can
    add to that, never take it away.
    """
    company = session.get(Operator, operator_id)
    if company is None:
        raise InvalidInput.coded("op_operator_id_missing", operator_id=operator_id)
    if not scenario.strip():
        raise InvalidInput.coded("scenario_missing")
    if valid_from is not None and valid_from > valid_until:
        raise InvalidInput.coded("term_inverted")
    schemas = _schemas(session, datasets)
    level = check_terms(schemas, max_level, purpose, valid_until, epsilon, delta)
    filters = checked_row_filters(row_filters, schemas)
    requested: dict[str, Any] = {
        "datasets": sorted(schemas),
        "max_level": level.value,
        "purpose": purpose.strip(),
        "scenario": scenario.strip(),
        "valid_from": valid_from.isoformat() if valid_from else None,
        "valid_until": valid_until.isoformat(),
        "epsilon": float(epsilon),
        "delta": float(delta),
        "row_filters": filters,
    }
    record = License(
        operator_id=company.id,
        datasets=requested["datasets"],
        max_level=level.value,
        purpose=requested["purpose"],
        scenario=requested["scenario"],
        valid_from=valid_from,
        valid_until=valid_until,
        epsilon_total=float(epsilon),
        delta_total=float(delta),
        row_filters=filters,
        status=LicenseStatus.PENDING,
        granted_by="",
        applied_by=actor.name,
        requested=requested,
    )
    session.add(record)
    session.flush()
    append(
        session,
        actor,
        AuditAction.LICENSE_APPLIED,
        f"license:{record.id}",
        {**requested, "operator": company.name},
    )
    return record


def approve_license(
    session: Session,
    license_id: int,
    actor: Actor,
    *,
    datasets: list[str] | None = None,
    max_level: str | None = None,
    valid_until: date | None = None,
    epsilon: float | None = None,
    row_filters: dict[str, str] | None = None,
    note: str = "",
    delta: float | None = None,
) -> License:
    """Approve an application as filed, or narrowed; widening anything is refused.

    `row_filters` adds a filter to a dataset, or tightens the one applied for: both
    then apply. A filter applied for cannot be taken off.
    """
    _decider(actor)
    record = get_license(session, license_id)
    _in_state(record, LicenseStatus.PENDING)
    names = sorted(set(datasets)) if datasets else list(record.datasets)
    if not set(names) <= set(record.datasets):
        extra = ", ".join(sorted(set(names) - set(record.datasets)))
        raise InvalidInput.coded("datasets_widened", datasets=extra)
    level = _narrower_level(max_level, Level(record.max_level))
    until = valid_until or record.valid_until
    if until > record.valid_until:
        raise InvalidInput.coded("term_later", valid_until=str(record.valid_until))
    budget = record.epsilon_total if epsilon is None else float(epsilon)
    if budget > record.epsilon_total:
        raise InvalidInput.coded("epsilon_raised", epsilon=record.epsilon_total)
    delta_budget = record.delta_total if delta is None else float(delta)
    if delta_budget > record.delta_total:
        raise InvalidInput.coded("delta_raised", delta=record.delta_total)
    schemas = _schemas(session, names)
    check_terms(schemas, level.value, record.purpose, until, budget, delta_budget)
    filters = _tightened(record.row_filters or {}, row_filters or {}, schemas)
    granted = {
        "datasets": names,
        "max_level": level.value,
        "valid_until": until.isoformat(),
        "epsilon": budget,
        "delta": delta_budget,
        "row_filters": filters,
    }
    asked = {"row_filters": {}, **(record.requested or {})}
    narrowed = sorted(k for k, v in granted.items() if k in asked and asked[k] != v)
    record.datasets, record.max_level, record.valid_until = names, level.value, until
    record.epsilon_total, record.row_filters = budget, filters
    record.delta_total = delta_budget
    record.status, record.granted_by = LicenseStatus.ACTIVE, actor.name
    record.decided_at, record.decision_note = utcnow(), note
    append(
        session,
        actor,
        AuditAction.LICENSE_APPROVED,
        f"license:{record.id}",
        {**granted, "narrowed": narrowed, "note": note},
    )
    return record


def _tightened(
    applied: dict[str, str], added: dict[str, str], schemas: dict[str, DatasetSchema]
) -> dict[str, str]:
    """The filters applied for (on the datasets still granted), each one joined with
    any filter the approval adds for the same dataset."""
    extra = parse_row_filters(added, schemas)
    result: dict[str, str] = {}
    for name, schema in schemas.items():
        tree = parse_row_filter(applied[name], schema) if name in applied else None
        more = extra.get(name)
        if tree is not None and more is not None:
            tree = conjoin(tree, more)
        elif tree is None:
            tree = more
        if tree is not None:
            result[name] = render(tree)
    return result


def refuse_license(session: Session, license_id: int, actor: Actor, reason: str) -> License:
    _decider(actor)
    record = get_license(session, license_id)
    _in_state(record, LicenseStatus.PENDING)
    if not reason.strip():
        raise InvalidInput.coded("refusal_reason")
    record.status, record.decided_at = LicenseStatus.REFUSED, utcnow()
    record.decision_note = reason
    append(session, actor, AuditAction.LICENSE_REFUSED, f"license:{record.id}", {"reason": reason})
    return record


def suspend_license(session: Session, license_id: int, actor: Actor, reason: str) -> License:
    """Stop use at once (queued jobs do not start, running ones are not gated); reversible."""
    _decider(actor)
    record = get_license(session, license_id)
    _in_state(record, LicenseStatus.ACTIVE)
    if not reason.strip():
        raise InvalidInput.coded("suspension_reason")
    record.status, record.decided_at = LicenseStatus.SUSPENDED, utcnow()
    record.decision_note = reason
    append(
        session, actor, AuditAction.LICENSE_SUSPENDED, f"license:{record.id}", {"reason": reason}
    )
    return record


def reinstate_license(session: Session, license_id: int, actor: Actor, note: str = "") -> License:
    _decider(actor)
    record = get_license(session, license_id)
    _in_state(record, LicenseStatus.SUSPENDED)
    record.status, record.decided_at = LicenseStatus.ACTIVE, utcnow()
    record.decision_note = note
    append(session, actor, AuditAction.LICENSE_REINSTATED, f"license:{record.id}", {"note": note})
    return record


def expire_licenses(session: Session, actor: Actor, today: date | None = None) -> list[int]:
    """Record expiry for licenses whose term has passed (usable_license already refuses them)."""
    today = today or date.today()
    query = select(License).where(
        License.status.in_([s for s in LicenseStatus if s.in_term]), License.valid_until < today
    )
    expired = []
    for record in session.scalars(query.order_by(License.id)):
        record.status = LicenseStatus.EXPIRED
        append(
            session,
            actor,
            AuditAction.LICENSE_EXPIRED,
            f"license:{record.id}",
            {"valid_until": record.valid_until.isoformat()},
        )
        expired.append(record.id)
    return expired
