"""Which engine runs a SQL job: DuckDB in the sandbox, or Spark; and engine defaults.

The operator's own choice wins, then the license's default, then its datasets'
(any dataset sent to Spark sends the job there); `duckdb` when none is set. The
job records which of these chose its engine (`EngineReason`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction, append
from catalog import get_dataset
from core.errors import InvalidInput
from jobs.leases import ENGINES, EngineDefault
from operators.licenses import get_license, usable_license

SYSTEM_ENGINE = "duckdb"


class EngineReason(StrEnum):
    """Why a job runs on its engine, as the job records it."""

    REQUESTED = "requested"  # the operator named it (--engine, the API's `engine`)
    LICENSE_DEFAULT = "license_default"
    DATASET_DEFAULT = "dataset_default"
    SYSTEM_DEFAULT = "system_default"


@dataclass(frozen=True)
class EngineChoice:
    engine: str
    reason: EngineReason


def check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise InvalidInput.coded("job_engine_unknown", engine=engine, engines=", ".join(ENGINES))


def set_engine_default(
    session: Session,
    engine: str,
    actor: Actor,
    *,
    license_id: int | None = None,
    dataset: str | None = None,
) -> EngineDefault:
    """Make `engine` the default for one license or one dataset. Caller commits."""
    check_engine(engine)
    if (license_id is None) == (dataset is None):
        raise InvalidInput.coded("job_license_or_dataset")
    if license_id is not None:
        get_license(session, license_id)  # NotFound names what is known
    else:
        assert dataset is not None
        get_dataset(session, dataset)
    where = (
        EngineDefault.license_id == license_id
        if license_id is not None
        else EngineDefault.dataset == dataset
    )
    row = session.scalars(select(EngineDefault).where(where)).first()
    if row is None:
        row = EngineDefault(license_id=license_id, dataset=dataset, engine=engine)
        session.add(row)
    row.engine, row.set_by = engine, actor.name
    subject = f"license:{license_id}" if license_id is not None else f"dataset:{dataset}"
    append(session, actor, AuditAction.ENGINE_DEFAULT_SET, subject, {"engine": engine})
    return row


def engine_for(session: Session, license_id: int, requested: str | None = None) -> str:
    """The engine a job runs on: the one asked for, else the license's or its datasets'."""
    return choose_engine(session, license_id, requested).engine


def choose_engine(session: Session, license_id: int, requested: str | None = None) -> EngineChoice:
    """The engine a job runs on, and which rule chose it."""
    if requested is not None:
        check_engine(requested)
        return EngineChoice(requested, EngineReason.REQUESTED)
    own = session.scalars(select(EngineDefault).where(EngineDefault.license_id == license_id))
    found = own.first()
    if found is not None:
        return EngineChoice(found.engine, EngineReason.LICENSE_DEFAULT)
    license = usable_license(session, license_id)
    rows = session.scalars(
        select(EngineDefault).where(EngineDefault.dataset.in_(list(license.datasets)))
    ).all()
    # data too large for one DuckDB anywhere in the license sends its jobs to Spark
    if any(r.engine == "spark" for r in rows):
        return EngineChoice("spark", EngineReason.DATASET_DEFAULT)
    if rows:
        return EngineChoice(SYSTEM_ENGINE, EngineReason.DATASET_DEFAULT)
    return EngineChoice(SYSTEM_ENGINE, EngineReason.SYSTEM_DEFAULT)


def engine_defaults(session: Session) -> list[EngineDefault]:
    """Every engine default set, licenses first."""
    rows = session.scalars(select(EngineDefault)).all()
    return sorted(rows, key=lambda r: (r.license_id is None, r.license_id or 0, r.dataset or ""))
