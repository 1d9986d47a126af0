"""Submitting a job: license check, policy decision, ε charged, all in one transaction.

A denied job is recorded with its reasons; an accepted one is queued with its ε
charged to the license's ledger. Nothing here runs anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction, append
from catalog import list_datasets
from catalog.schema import DatasetSchema
from core.errors import InvalidInput
from core.levels import Level
from jobs import notebooks
from jobs.engines import EngineReason, check_engine, choose_engine
from jobs.ledger import charge
from jobs.records import Job, JobStatus
from jobs.settings import JobSettings
from operators.accounts import Principal
from operators.licenses import get_license, license_not_found, usable_license
from operators.records import License
from policies.budget import within_budget
from policies.complexity import QueryBudget, bounded_check
from policies.engine import Decision, LicenseScope, PolicyDecision


def submit(
    session: Session,
    license_id: int,
    user: Principal,
    settings: JobSettings,
    *,
    sql: str | None = None,
    notebook: str | None = None,
    engine: str | None = None,
    planned: PlannedQuery | None = None,
) -> Job:
    """The one way a job enters the domain: the CLI, API, console, demo and workers call it.

    A SQL job runs on `engine`, else on the license's or its datasets' default
    engine (see `jobs.engines`). Caller commits. Pass the query's decision `planned`
    before the transaction opened (`plan_query`), or the analysis runs inside it.
    """
    if (sql is None) == (notebook is None):
        raise InvalidInput.coded("sql_and_notebook")
    if notebook is not None:
        return submit_notebook(session, license_id, user, notebook, settings)
    assert sql is not None
    chosen = choose_engine(session, license_id, engine)
    return submit_sql(
        session,
        license_id,
        user,
        sql,
        settings,
        engine=chosen.engine,
        planned=planned,
        engine_reason=chosen.reason,
    )


@dataclass(frozen=True)
class PolicyInputs:
    """What a policy decision depends on in the database: read in a short transaction,
    so the analysis itself can run with none open."""

    license_id: int
    schemas: dict[str, DatasetSchema]
    scope: LicenseScope


@dataclass(frozen=True)
class PlannedQuery:
    """A decision made outside any transaction, with what it was made from."""

    inputs: PolicyInputs
    sql: str
    epsilon: float
    decision: PolicyDecision


def policy_inputs(session: Session, license_id: int) -> PolicyInputs:
    """The schemas and the scope of a usable license (no state changes)."""
    license = usable_license(session, license_id)
    schemas = {d.name: d.schema() for d in list_datasets(session)}
    filters = dict(license.row_filters or {})
    scope = LicenseScope(tuple(license.datasets), Level(license.max_level), filters)
    return PolicyInputs(license.id, schemas, scope)


def plan_query(
    inputs: PolicyInputs, sql: str, epsilon: float, budget: QueryBudget | None = None
) -> PlannedQuery:
    """The bounded policy analysis of a query. Call it with no transaction open: it may
    take the whole time budget, and a write lock held that long stops every other writer."""
    return PlannedQuery(inputs, sql, epsilon, bounded_check(sql, inputs.schemas, inputs.scope,
                                                            epsilon, budget))  # fmt: skip


def decide(
    session: Session,
    license_id: int,
    sql: str,
    epsilon: float,
    budget: QueryBudget | None = None,
    planned: PlannedQuery | None = None,
) -> PolicyDecision:
    """The policy decision for a query under a usable license (no state changes).

    A decision `planned` outside the transaction is used when the license, schemas,
    query and ε it was made from are still the same; otherwise the analysis runs again
    (within the same budget).
    """
    license = usable_license(session, license_id)
    inputs = policy_inputs(session, license_id)
    if planned is not None and (planned.inputs, planned.sql, planned.epsilon) == (
        inputs,
        sql,
        epsilon,
    ):
        decision = planned.decision
    else:
        decision = plan_query(inputs, sql, epsilon, budget).decision
    return within_budget(decision, license)


def submit_sql(
    session: Session,
    license_id: int,
    user: Principal,
    sql: str,
    settings: JobSettings,
    engine: str = "duckdb",
    planned: PlannedQuery | None = None,
    parent_id: int | None = None,
    engine_reason: EngineReason = EngineReason.SYSTEM_DEFAULT,
) -> Job:
    """Record the job: denied with reasons, or queued with ε charged. Caller commits.

    A Spark job is an ordinary job (same decision, same ε, same gate) whose policy
    also carries the Spark SQL that sqlglot emits from the same rewritten tree. A
    notebook's `query()` is such a job with the notebook job as `parent_id`.
    """
    check_engine(engine)
    if not sql.strip():
        raise InvalidInput.coded("sql_empty")
    license = _license_for(session, license_id, user)
    epsilon, budget = settings.epsilon_per_query, settings.query_budget
    decision = decide(session, license_id, sql, epsilon, budget, planned)
    level = decision.level
    job = _new_job(
        session,
        license,
        user,
        "sql",
        sql,
        engine=engine,
        engine_reason=engine_reason.value,
        decision=decision.decision,
        reasons=[r.to_dict() for r in decision.reasons],
        rewritten_sql=decision.sql,
        policy=decision.to_dict(),
        level=level.value,
        epsilon=decision.epsilon,
        status=JobStatus.DENIED if decision.decision is Decision.DENY else JobStatus.QUEUED,
        required_reviews=2 if level is Level.L3 else 1,
        parent_id=parent_id,
    )
    actor = user.actor
    details = {
        "license": license.id,
        **({"parent": f"job:{parent_id}"} if parent_id is not None else {}),
        "sql_digest": job.source_digest,
        "engine": engine,
        "engine_reason": engine_reason.value,
        "decision": decision.decision,
        "rewritten_sql": decision.sql,
        "operator_id": license.operator_id,
        "license_valid_until": license.valid_until.isoformat(),
        "reasons": job.reasons,
    }
    append(session, actor, AuditAction.JOB_SUBMITTED, f"job:{job.id}", details)
    if job.status == JobStatus.QUEUED:
        # within_budget above read the licence without a lock; the charge is the
        # authoritative check. Its BudgetExhausted (a concurrent job took the last ε)
        # rolls back this whole transaction, job and entries included. It comes after
        # the first append, so the audit lock is taken before the licence row.
        charge(session, license, str(job.id), decision.epsilon, actor, decision.delta)
        if engine == "spark":
            spark_sql = decision.sql_for("spark")
            job.policy = {**job.policy, "spark_sql": spark_sql}
            chosen = {"engine": engine, "spark_sql": spark_sql, "license": license.id}
            append(session, actor, AuditAction.JOB_ENGINE_SELECTED, f"job:{job.id}", chosen)
    else:
        denial = {"reasons": job.reasons, "operator_id": job.operator_id, "license": license.id}
        append(session, Actor.system(), AuditAction.JOB_DENIED, f"job:{job.id}", denial)
    return job


def _new_job(
    session: Session, license: License, user: Principal, kind: str, source: str, **fields: Any
) -> Job:
    """A job row for this licence and submitter, added and given its id."""
    job = Job(
        license_id=license.id,
        operator_id=license.operator_id,
        submitted_by=user.name,
        kind=kind,
        source=source,
        source_digest=hashlib.sha256(source.encode()).hexdigest(),
        **fields,
    )
    session.add(job)
    session.flush()
    return job


def _license_for(session: Session, license_id: int, user: Principal) -> License:
    """A usable licence of the user's company. Another company's licence is not found,
    whatever its state, exactly like one that does not exist."""
    found = get_license(session, license_id)
    if user.role != "admin" and (user.role != "operator" or user.operator_id != found.operator_id):
        raise license_not_found(license_id)
    return usable_license(session, license_id)


def submit_notebook(
    session: Session, license_id: int, user: Principal, text: str, settings: JobSettings
) -> Job:
    """Queue a notebook (no ε: it reads no L3 values, see jobs.notebooks). Caller commits.

    Two reviewers, whatever the level: no policy engine has read the code.
    """
    source = notebooks.clean_notebook(text)
    license = _license_for(session, license_id, user)
    scope = notebooks.scope_for(session, list(license.datasets), Level(license.max_level))
    job = _new_job(
        session,
        license,
        user,
        "notebook",
        source,
        engine="nbclient",
        decision=Decision.ALLOW,
        reasons=[],
        policy={"datasets": list(license.datasets), "notebook": scope.to_dict(), "cells": []},
        level=scope.level.value,
        epsilon=0.0,
        status=JobStatus.QUEUED,
        required_reviews=2,
    )
    details = {
        "license": license.id,
        "notebook_digest": job.source_digest,
        "decision": Decision.ALLOW,
        "operator_id": license.operator_id,
        "license_valid_until": license.valid_until.isoformat(),
        "visible_columns": scope.columns,
    }
    append(session, user.actor, AuditAction.JOB_SUBMITTED, f"job:{job.id}", details)
    return job
