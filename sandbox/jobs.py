"""Submitting and running jobs: license check, policy decision, sandbox run, noise, gate.

`submit` decides in one transaction (deny, or charge ε and queue). `run` moves a
queued job through the sandbox and the output gate to `awaiting_review`, or to
`failed`/`blocked` with the reason; nothing it writes leaves the domain.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import Actor, append
from catalog import get_dataset, list_datasets
from core.errors import InvalidInput, LicenseInvalid, NotFound, PermissionDenied
from core.home import Home
from core.levels import Level
from operators.accounts import Principal
from operators.licenses import usable_license
from policies.budget import charge
from policies.disclosure import DisclosureRules
from policies.engine import LicenseScope, PolicyDecision, check_query
from sandbox.lifecycle import transition
from sandbox.limits import Limits
from sandbox.records import Job
from sandbox.runner import SandboxRun, execute, get_runner


@dataclass(frozen=True)
class JobSettings:
    epsilon_per_query: float = 1.0
    backend: str = "bubblewrap"
    limits: Limits = Limits()
    rules: DisclosureRules = DisclosureRules()


def decide(session: Session, license_id: int, sql: str, epsilon: float) -> PolicyDecision:
    """The policy decision for a query under a usable license (no state changes)."""
    license = usable_license(session, license_id)
    schemas = {d.name: d.schema() for d in list_datasets(session)}
    scope = LicenseScope(tuple(license.datasets), Level(license.max_level), license.row_filter)
    return check_query(sql, schemas, scope, epsilon)


def submit_sql(
    session: Session,
    license_id: int,
    user: Principal,
    sql: str,
    settings: JobSettings,
    engine: str = "duckdb",
) -> Job:
    """Record the job: denied with reasons, or queued with ε charged. Caller commits."""
    if engine != "duckdb":
        raise InvalidInput(f"engine {engine!r} is not available here; use duckdb")
    if not sql.strip():
        raise InvalidInput("the SQL file is empty; write one SELECT query")
    license = usable_license(session, license_id)
    if user.role != "admin" and (
        user.role != "operator" or user.operator_id != license.operator_id
    ):
        raise PermissionDenied(
            f"user {user.name!r} may not use license {license_id}: it belongs to another company"
        )
    decision = decide(session, license_id, sql, settings.epsilon_per_query)
    level = decision.level
    job = Job(
        license_id=license.id,
        operator_id=license.operator_id,
        submitted_by=user.name,
        kind="sql",
        source=sql,
        source_digest=hashlib.sha256(sql.encode()).hexdigest(),
        engine=engine,
        decision=decision.decision,
        reasons=[r.to_dict() for r in decision.reasons],
        rewritten_sql=decision.sql,
        policy=decision.to_dict(),
        level=level.value,
        epsilon=decision.epsilon,
        status="denied" if decision.decision == "deny" else "queued",
        required_reviews=2 if level is Level.L3 else 1,
    )
    session.add(job)
    session.flush()
    actor = user.actor
    details = {
        "license": license.id,
        "sql_digest": job.source_digest,
        "decision": decision.decision,
        "rewritten_sql": decision.sql,
        "operator_id": license.operator_id,
        "license_valid_until": license.valid_until.isoformat(),
        "reasons": job.reasons,
    }
    append(session, actor, "job.submitted", f"job:{job.id}", details)
    if job.status == "queued":
        charge(session, license, str(job.id), decision.epsilon, actor)
    else:
        denial = {"reasons": job.reasons, "operator_id": job.operator_id, "license": license.id}
        append(session, Actor.system(), "job.denied", f"job:{job.id}", denial)
    return job


def get_job(session: Session, job_id: int, operator_id: int | None = None) -> Job:
    """A job by id; scoped to one company when `operator_id` is given (others are not found)."""
    job = session.get(Job, job_id)
    if job is None or (operator_id is not None and job.operator_id != operator_id):
        raise NotFound(f"no job with id {job_id}; see `sluice jobs list`")
    return job


def list_jobs(session: Session, operator_id: int | None = None) -> list[Job]:
    query = select(Job).order_by(Job.id)
    if operator_id is not None:
        query = query.where(Job.operator_id == operator_id)
    return list(session.scalars(query))


def job_dir(home: Home, job: Job) -> Path:
    return home.jobs / str(job.id)


def start(session: Session, home: Home, job: Job) -> SandboxRun | None:
    """queued → running, unless the license stopped being usable meanwhile (→ failed)."""
    try:
        license = usable_license(session, job.license_id)
    except LicenseInvalid as exc:
        transition(session, job, "failed", Actor.system(), {"failure": str(exc)})
        job.failure = str(exc)
        return None
    data = {name: home.root / get_dataset(session, name).store_path for name in license.datasets}
    spec = {
        "kind": "sql",
        "sql": job.rewritten_sql,
        "datasets": {n: f"/data/{n}.parquet" for n in data},
        "output": "result.parquet",
    }
    transition(session, job, "running", Actor.system(), {"datasets": sorted(data)})
    work = job_dir(home, job)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return SandboxRun(job_id=str(job.id), work_dir=work, data=data, spec=spec, limits=Limits())


def finish(
    session: Session,
    home: Home,
    job: Job,
    result_path: Path | None,
    failure: str | None,
    settings: JobSettings,
    resources: dict[str, object],
) -> None:
    """running → failed | blocked | awaiting_review, after noise and the output gate."""
    # products imports this module (review needs jobs), so the gate step is imported here
    from products.outputs import gate_job_outputs

    job.resources = resources
    if failure is not None or result_path is None:
        job.failure = failure or "the sandbox produced no result"
        transition(session, job, "failed", Actor.system(), {"failure": job.failure, **resources})
        return
    outcome = gate_job_outputs(session, home, job, result_path, settings.rules)
    job.gate, job.outputs = outcome.gate, outcome.outputs
    summary = {k: v for k, v in outcome.gate.items() if k != "findings"}
    findings = len(outcome.gate.get("findings", []))
    transition(
        session,
        job,
        outcome.status,
        Actor.system(),
        {"gate": summary, "findings": findings, **resources},
    )
    for alert in outcome.alerts:
        append(
            session,
            Actor.system(),
            f"alert.{alert}",
            f"job:{job.id}",
            {"license": job.license_id, "operator_id": job.operator_id},
        )


def run(
    session_factory: Callable[[], Session], home: Home, job_id: int, settings: JobSettings
) -> Job:
    """Run one queued job to its next resting state; each step commits on its own."""
    with session_factory() as session, session.begin():
        job = get_job(session, job_id)
        sandbox_run = start(session, home, job)
    if sandbox_run is None:
        with session_factory() as session:
            return get_job(session, job_id)
    result = execute(get_runner(settings.backend), sandbox_run)
    outputs = {p.name: p for p in result.outputs}
    resources = {
        "seconds": round(result.seconds, 3),
        "backend": settings.backend,
        "exit_code": result.exit_code,
    }
    with session_factory() as session, session.begin():
        job = get_job(session, job_id)
        finish(
            session, home, job, outputs.get("result.parquet"), result.failure, settings, resources
        )
    with session_factory() as session:
        job = get_job(session, job_id)
        session.expunge(job)
        return job
