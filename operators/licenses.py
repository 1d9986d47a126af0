"""Licenses (授权): which datasets an operator may use, up to which level, for what, until when.

A license is checked on every use; a suspended, revoked or expired one refuses at
once. Applying, approving and the other steps of its life are in `operators.lifecycle`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction, append
from catalog.ingest import get_dataset
from catalog.records import Dataset
from catalog.row_filter import parse_row_filters, render
from catalog.schema import DatasetSchema
from core.db import utcnow
from core.errors import Conflict, InvalidInput, LicenseInvalid, NotFound, Step
from core.failures import FailureKind, JobFailure
from core.levels import Level
from operators.accounts import get_operator
from operators.records import DEFAULT_DELTA, License, LicenseStatus, Operator

DEFAULT_EPSILON = 10.0


def check_terms(
    schemas: Mapping[str, DatasetSchema],
    max_level: str,
    purpose: str,
    valid_until: date,
    epsilon: float,
    delta: float = DEFAULT_DELTA,
) -> Level:
    """Validate a license's terms (granted or applied for); the level they name."""
    try:
        level = Level(max_level.upper())
    except ValueError:
        raise InvalidInput.coded("level_unknown", level=max_level) from None
    if level is Level.L4:
        raise InvalidInput.coded("level_l4")
    if not purpose.strip():
        raise InvalidInput.coded("license_purpose")
    if valid_until <= date.today():
        raise InvalidInput.coded(
            "license_end_past",
            valid_until=str(valid_until),
            suggestion="give a later end date",
            step=Step.LICENSE_END_DATE,
        )
    if not epsilon > 0:
        raise InvalidInput.coded(
            "epsilon_not_positive",
            epsilon=epsilon,
            suggestion="give a positive budget",
            step=Step.LICENSE_BUDGET,
        )
    if not 0 <= delta < 1:
        raise InvalidInput.coded(
            "delta_out_of_range",
            delta=delta,
            suggestion="give a small δ, well below one over the number of people "
            f"(default {DEFAULT_DELTA:g}); 0 allows no release whose keys are chosen by DP",
            step=Step.LICENSE_BUDGET,
        )
    if not schemas:
        raise InvalidInput.coded(
            "license_no_dataset",
            suggestion="name the datasets it covers",
            step=Step.LICENSE_DATASETS,
        )
    return level


def checked_row_filters(
    filters: Mapping[str, str] | None, schemas: Mapping[str, DatasetSchema]
) -> dict[str, str]:
    """Each dataset's row filter checked against that dataset, kept as the rendering of
    its checked tree: what is stored is exactly what is applied to the data."""
    return {name: render(tree) for name, tree in parse_row_filters(filters or {}, schemas).items()}


def grant_license(
    session: Session,
    *,
    operator: str,
    schemas: Mapping[str, DatasetSchema],
    max_level: str,
    purpose: str,
    valid_until: date,
    actor: Actor,
    row_filters: Mapping[str, str] | None = None,
    epsilon: float = DEFAULT_EPSILON,
    scenario: str = "",
    delta: float = DEFAULT_DELTA,
) -> License:
    """Grant a license directly (the authority's own initiative, no application).

    `row_filters` maps a licensed dataset to the predicate its rows must meet.
    """
    company = get_operator(session, operator)
    level = check_terms(schemas, max_level, purpose, valid_until, epsilon, delta)
    filters = checked_row_filters(row_filters, schemas)
    record = License(
        operator_id=company.id,
        datasets=sorted(schemas),
        max_level=level.value,
        purpose=purpose.strip(),
        scenario=scenario.strip(),
        valid_until=valid_until,
        row_filters=filters,
        epsilon_total=float(epsilon),
        delta_total=float(delta),
        granted_by=actor.name,
        decided_at=utcnow(),
    )
    session.add(record)
    session.flush()
    append(
        session,
        actor,
        AuditAction.LICENSE_GRANTED,
        f"license:{record.id}",
        {"operator": company.name, **record.to_dict(company.name)},
    )
    return record


def license_not_found(license_id: int) -> NotFound:
    """The one answer for a license that does not exist or is another company's, so
    the two cannot be told apart."""
    return NotFound.coded(
        "license_missing",
        suggestion="list your licenses",
        step=Step.LIST_LICENSES,
        license_id=license_id,
    )


def get_license(session: Session, license_id: int) -> License:
    record = session.get(License, license_id)
    if record is None:
        raise license_not_found(license_id)
    return record


def usable_license(session: Session, license_id: int) -> License:
    """The license, if it may be used today; LicenseInvalid says why not."""
    record = get_license(session, license_id)
    if record.valid_from is not None and record.valid_from > date.today():
        raise LicenseInvalid.coded(
            "license_not_yet", license_id=license_id, valid_from=str(record.valid_from)
        )
    if record.status != LicenseStatus.ACTIVE:
        raise LicenseInvalid.coded(
            "license_not_active", license_id=license_id, status=str(record.status)
        )
    if record.valid_until < date.today():
        raise LicenseInvalid.coded(
            "license_expired", license_id=license_id, valid_until=str(record.valid_until)
        )
    return record


def license_stop_reason(session: Session, license_id: int) -> JobFailure | None:
    """Why a license may no longer be used (suspended, revoked, expired), or None.

    The job runner asks this when a job starts and again before a finished job's
    output goes on to the gate, so a stop takes effect for running jobs too.
    """
    try:
        usable_license(session, license_id)
    except LicenseInvalid as stopped:
        return JobFailure(FailureKind.LICENSE, stopped.message)
    return None


def licensed_dataset(session: Session, name: str, operator_id: int | None) -> Dataset:
    """The dataset, if the company holds a usable licence to it today (staff: any dataset).

    A company without one gets exactly the answer a missing dataset gets, so asking
    cannot tell which datasets exist beyond the catalog, or whose licence covers them.
    """
    if operator_id is None:
        return get_dataset(session, name)
    covered = {
        dataset
        for record, _ in list_licenses(session, operator_id, LicenseStatus.ACTIVE)
        if license_stop_reason(session, record.id) is None
        for dataset in record.datasets
    }
    found = session.scalars(select(Dataset).where(Dataset.name == name)).first()
    if found is None or name not in covered:
        raise NotFound.coded(
            "dataset_not_under_licences",
            suggestion="list your licenses",
            step=Step.LIST_LICENSES,
            name=name,
        )
    return found


def list_licenses(
    session: Session, operator_id: int | None = None, status: str | None = None
) -> list[tuple[License, str]]:
    query = select(License, Operator.name).join(Operator, Operator.id == License.operator_id)
    if operator_id is not None:
        query = query.where(License.operator_id == operator_id)
    if status is not None:
        query = query.where(License.status == status)
    return [(row[0], row[1]) for row in session.execute(query.order_by(License.id))]


def revoke_license(session: Session, license_id: int, actor: Actor, reason: str = "") -> License:
    """Withdraw a license for good; queued jobs under it will not start."""
    record = get_license(session, license_id)
    revocable = (LicenseStatus.ACTIVE, LicenseStatus.SUSPENDED, LicenseStatus.EXPIRED)
    if record.status not in revocable:
        raise Conflict.coded(
            "license_not_revocable", license_id=license_id, status=str(record.status)
        )
    previous, record.status = record.effective_status(), LicenseStatus.REVOKED
    record.decided_at = utcnow()
    append(
        session,
        actor,
        AuditAction.LICENSE_REVOKED,
        f"license:{license_id}",
        {"reason": reason, "from": previous},
    )
    return record
