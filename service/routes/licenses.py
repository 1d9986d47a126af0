"""Licenses (授权): operators apply and read their own; the data authority decides,
suspends, reinstates and revokes; regulators read the registry."""

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.engines import set_engine_default
from jobs.ledger import BudgetCharge
from operators.accounts import Principal
from operators.licenses import get_license, license_not_found, list_licenses, revoke_license
from operators.lifecycle import (
    apply_for_license,
    approve_license,
    refuse_license,
    reinstate_license,
    suspend_license,
)
from operators.records import DEFAULT_DELTA, License, Operator
from service.deps import OperatorDep, SessionDep, company_scope, require_role
from service.pagination import Cursor, Page, PageLimit, paginate
from service.schemas.jobs import EngineChoice, EngineDefaultOut
from service.schemas.licenses import BudgetOut, ChargeOut, LicenseOut

router = APIRouter(prefix="/api/v1/licenses", tags=["licenses"])
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
Reader = Annotated[
    Principal, Depends(require_role("operator", "authority", "reviewer", "regulator"))
]
Authority = Annotated[Principal, Depends(require_role("authority"))]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
LevelName = Literal["L1", "L2", "L3"]
Epsilon = Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)]
Delta = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
STATUSES = Literal["pending", "refused", "active", "suspended", "revoked", "expired"]
DatasetName = Annotated[str, Field(min_length=1, max_length=63)]
# dataset -> the predicate its rows must meet (行范围),
# e.g. {"enterprise_utilities": "district = '镇海区'"}
RowFilters = Annotated[
    dict[DatasetName, Annotated[str, Field(min_length=1, max_length=2000)]],
    Field(max_length=20),
]


class Application(BaseModel):
    datasets: list[DatasetName] = Field(min_length=1, max_length=20)
    max_level: LevelName
    purpose: Text
    scenario: Text
    valid_until: date
    valid_from: date | None = None
    epsilon: Epsilon
    delta: Delta = DEFAULT_DELTA  # for releases whose keys are chosen by DP
    row_filters: RowFilters | None = None


class Approval(BaseModel):
    datasets: list[DatasetName] | None = Field(default=None, min_length=1, max_length=20)
    max_level: LevelName | None = None
    valid_until: date | None = None
    epsilon: Epsilon | None = None
    delta: Delta | None = None  # may be lowered, not raised
    # added to the application's filters: for a dataset it already filters, both apply
    row_filters: RowFilters | None = None
    note: Annotated[str, Field(max_length=2000)] = ""


class Reason(BaseModel):
    reason: Text


class Note(BaseModel):
    note: Annotated[str, Field(max_length=2000)] = ""


def _shown(session: Session, record: License) -> LicenseOut:
    operator = session.get(Operator, record.operator_id)
    return LicenseOut.model_validate(record.to_dict(operator.name if operator else None))


def scoped_license(session: Session, license_id: int, who: Principal) -> License:
    """A license the caller may see; another company's is not found."""
    record = get_license(session, license_id)
    scope = company_scope(who)
    if scope is not None and record.operator_id != scope:
        raise license_not_found(license_id)
    return record


@router.get("")
def licenses(
    who: Reader,
    s: SessionDep,
    status: STATUSES | None = None,
    limit: PageLimit = 100,
    cursor: Cursor = None,
) -> Page[LicenseOut]:
    found = list_licenses(s, company_scope(who))
    rows = [LicenseOut.model_validate(lic.to_dict(name)) for lic, name in found]
    chosen = [r for r in rows if status is None or r.status == status]
    return paginate(chosen, lambda r: r.id, limit, cursor)


@router.post("", status_code=201)
def apply(body: Application, who: OperatorDep, s: SessionDep) -> LicenseOut:
    record = apply_for_license(
        s,
        operator_id=who.operator_id or 0,
        datasets=body.datasets,
        max_level=body.max_level,
        purpose=body.purpose,
        scenario=body.scenario,
        valid_until=body.valid_until,
        valid_from=body.valid_from,
        epsilon=body.epsilon,
        delta=body.delta,
        actor=who.actor,
        row_filters=body.row_filters,
    )
    return _shown(s, record)


@router.get("/{license_id}")
def one_license(license_id: Id, who: Reader, s: SessionDep) -> LicenseOut:
    return _shown(s, scoped_license(s, license_id, who))


@router.get("/{license_id}/budget")
def budget(license_id: Id, who: Reader, s: SessionDep) -> BudgetOut:
    """The privacy-budget ledger of one license: every ε charged, oldest first."""
    record = scoped_license(s, license_id, who)
    charges = s.scalars(
        select(BudgetCharge).where(BudgetCharge.license_id == license_id).order_by(BudgetCharge.id)
    )
    return BudgetOut(
        license=record.id,
        epsilon_total=record.epsilon_total,
        epsilon_spent=round(record.epsilon_spent, 6),
        delta_total=record.delta_total,
        delta_spent=record.delta_spent,
        charges=[
            ChargeOut(job=c.job_id, epsilon=c.epsilon, delta=c.delta, at=c.at.isoformat())
            for c in charges
        ],
    )


@router.put("/{license_id}/engine")
def set_license_engine(
    license_id: Id, body: EngineChoice, who: Authority, s: SessionDep
) -> EngineDefaultOut:
    """The engine this licence's SQL jobs run on when the operator names none."""
    row = set_engine_default(s, body.engine, who.actor, license_id=license_id)
    s.flush()
    return EngineDefaultOut.model_validate(row.to_dict())


@router.post("/{license_id}/approve")
def approve(license_id: Id, body: Approval, who: Authority, s: SessionDep) -> LicenseOut:
    record = approve_license(s, license_id, who.actor, **body.model_dump())
    return _shown(s, record)


@router.post("/{license_id}/refuse")
def refuse(license_id: Id, body: Reason, who: Authority, s: SessionDep) -> LicenseOut:
    return _shown(s, refuse_license(s, license_id, who.actor, body.reason))


@router.post("/{license_id}/suspend")
def suspend(license_id: Id, body: Reason, who: Authority, s: SessionDep) -> LicenseOut:
    return _shown(s, suspend_license(s, license_id, who.actor, body.reason))


@router.post("/{license_id}/reinstate")
def reinstate(license_id: Id, body: Note, who: Authority, s: SessionDep) -> LicenseOut:
    return _shown(s, reinstate_license(s, license_id, who.actor, body.note))


@router.post("/{license_id}/revoke")
def revoke(license_id: Id, body: Reason, who: Authority, s: SessionDep) -> LicenseOut:
    return _shown(s, revoke_license(s, license_id, who.actor, body.reason))
