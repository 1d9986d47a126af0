"""Which engine runs a SQL job: DuckDB in the sandbox, or Spark; and engine defaults.

A license's default engine wins over its datasets'; `duckdb` when none is set.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction, append
from core.errors import InvalidInput
from jobs.leases import ENGINES, EngineDefault
from operators.licenses import usable_license


def check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise InvalidInput(f"engine {engine!r} is not known; choose one of: {', '.join(ENGINES)}")


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
        raise InvalidInput("give exactly one of a license or a dataset")
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
    if requested is not None:
        check_engine(requested)
        return requested
    own = session.scalars(select(EngineDefault).where(EngineDefault.license_id == license_id))
    found = own.first()
    if found is not None:
        return found.engine
    license = usable_license(session, license_id)
    rows = session.scalars(
        select(EngineDefault).where(EngineDefault.dataset.in_(list(license.datasets)))
    ).all()
    # data too large for one DuckDB anywhere in the license sends its jobs to Spark
    return "spark" if any(r.engine == "spark" for r in rows) else "duckdb"
