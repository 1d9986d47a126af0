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
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import Actor, append
from catalog import get_dataset, list_datasets
from core.errors import InvalidInput, LicenseInvalid, NotFound, PermissionDenied
from core.home import Home
from core.levels import Level
from operators.accounts import Principal
from operators.licenses import license_stop_reason, usable_license
from operators.records import License
from policies.budget import charge, within_budget
from policies.disclosure import DisclosureRules
from policies.engine import LicenseScope, PolicyDecision, check_query
from sandbox import notebooks
from sandbox.license_limits import limits_for
from sandbox.lifecycle import transition
from sandbox.limits import Limits
from sandbox.records import Job
from sandbox.runner import (
    Runner,
    SandboxResult,
    SandboxRun,
    execute,
    get_runner,
    resolve_backend,
)


@dataclass(frozen=True)
class JobSettings:
    """How jobs run. `backend` is docker, bubblewrap or auto (docker when an engine
    answers and the image is built, else bubblewrap); `limits` are the domain's
    defaults, which a license's own limits override."""

    epsilon_per_query: float = 1.0
    backend: str = "auto"
    limits: Limits = Limits()
    rules: DisclosureRules = DisclosureRules()
    image: str | None = None
    pool_size: int = 0
    pool_dir: Path | None = None

    def runner(self) -> Runner:
        backend = resolve_backend(self.backend)
        if backend != "docker":
            return get_runner(backend)
        options = {"image": self.image, "pool_size": self.pool_size, "pool_dir": self.pool_dir}
        return get_runner(backend, pool_limits=self.limits, **options)


def decide(session: Session, license_id: int, sql: str, epsilon: float) -> PolicyDecision:
    """The policy decision for a query under a usable license (no state changes)."""
    license = usable_license(session, license_id)
    schemas = {d.name: d.schema() for d in list_datasets(session)}
    scope = LicenseScope(tuple(license.datasets), Level(license.max_level), license.row_filter)
    return within_budget(check_query(sql, schemas, scope, epsilon), license)


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
    license = _license_for(session, license_id, user)
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


def _license_for(session: Session, license_id: int, user: Principal) -> License:
    license = usable_license(session, license_id)
    if user.role != "admin" and (
        user.role != "operator" or user.operator_id != license.operator_id
    ):
        raise PermissionDenied(
            f"user {user.name!r} may not use license {license_id}: it belongs to another company"
        )
    return license


def submit_notebook(
    session: Session, license_id: int, user: Principal, text: str, settings: JobSettings
) -> Job:
    """Queue a notebook (no ε: it reads no L3 values, see sandbox.notebooks). Caller commits.

    Two reviewers, whatever the level: no policy engine has read the code.
    """
    source = notebooks.clean_notebook(text)
    license = _license_for(session, license_id, user)
    scope = notebooks.scope_for(session, list(license.datasets), Level(license.max_level))
    job = Job(
        license_id=license.id,
        operator_id=license.operator_id,
        submitted_by=user.name,
        kind="notebook",
        source=source,
        source_digest=hashlib.sha256(source.encode()).hexdigest(),
        engine="nbclient",
        decision="allow",
        reasons=[],
        policy={"datasets": list(license.datasets), "notebook": scope.to_dict(), "cells": []},
        level=scope.level.value,
        epsilon=0.0,
        status="queued",
        required_reviews=2,
    )
    session.add(job)
    session.flush()
    details = {
        "license": license.id,
        "notebook_digest": job.source_digest,
        "decision": "allow",
        "operator_id": license.operator_id,
        "license_valid_until": license.valid_until.isoformat(),
        "visible_columns": scope.columns,
    }
    append(session, user.actor, "job.submitted", f"job:{job.id}", details)
    return job


def get_job(
    session: Session, job_id: int, operator_id: int | None = None, lock: bool = False
) -> Job:
    """A job by id; scoped to one company when `operator_id` is given (others are not found).

    `lock` takes the row for this transaction (FOR UPDATE on PostgreSQL), so two
    runners cannot both start the same queued job.
    """
    job = session.get(Job, job_id, with_for_update=lock)
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


def start(
    session: Session, home: Home, job: Job, settings: JobSettings | None = None
) -> SandboxRun | None:
    """queued → running, unless the license stopped being usable meanwhile (→ failed)."""
    settings = settings or JobSettings()
    try:
        license = usable_license(session, job.license_id)
    except LicenseInvalid as exc:
        transition(session, job, "failed", Actor.system(), {"failure": str(exc)})
        job.failure = str(exc)
        return None
    limits = limits_for(session, license.id, settings.limits)
    work = job_dir(home, job)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    files: dict[str, bytes] = {}
    spec: dict[str, Any]
    if job.kind == "notebook":
        datasets = list(license.datasets)
        data = notebooks.prepare_views(session, home, datasets, license, work / "views")
        spec = {"kind": "notebook", "notebook": f"/job/{notebooks.NOTEBOOK_FILE}"}
        files[notebooks.NOTEBOOK_FILE] = job.source.encode("utf-8")
    else:
        data = {n: home.root / get_dataset(session, n).store_path for n in license.datasets}
        spec = {"kind": "sql", "sql": job.rewritten_sql, "output": "result.parquet"}
    spec["datasets"] = {n: f"/data/{n}.parquet" for n in data}
    details = {"datasets": sorted(data), "limits": limits.to_dict()}
    transition(session, job, "running", Actor.system(), details)
    return SandboxRun(str(job.id), work, data, spec, limits, files)


def finish(
    session: Session,
    home: Home,
    job: Job,
    result_path: Path | list[Path] | None,
    failure: str | None,
    settings: JobSettings,
    resources: dict[str, object],
) -> None:
    """running → failed | blocked | awaiting_review, after noise and the output gate."""
    # products imports this module (review needs jobs), so the gate step is imported here
    from products.outputs import gate_job_outputs

    job.resources = resources
    # a license suspended, revoked or expired while the job ran stops it here, before the gate
    failure = failure or license_stop_reason(session, job.license_id)
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


def _notebook_result(
    job: Job, sandbox_run: SandboxRun, outputs: list[Path]
) -> tuple[list[Path] | None, str | None]:
    """All of a notebook's outputs go to the gate; the runtime's manifest (which are
    tables made by `sluice_runtime.table`, which are custom) goes in the job's policy
    for the gate and the reviewers."""
    found = notebooks.read_outputs(sandbox_run.review_dir, outputs)
    job.policy = {**job.policy, "notebook_outputs": found.to_dict()}
    if not outputs:
        return None, "rule:no_outputs: the notebook wrote nothing to /out"
    return outputs, None


def run(
    session_factory: Callable[[], Session], home: Home, job_id: int, settings: JobSettings
) -> Job:
    """Run one queued job to its next resting state; each step commits on its own."""
    with session_factory() as session, session.begin():
        job = get_job(session, job_id, lock=True)  # a worker may be claiming the same job
        sandbox_run = start(session, home, job, settings)
    if sandbox_run is None:
        with session_factory() as session:
            return get_job(session, job_id)
    runner = settings.runner()
    try:
        result: SandboxResult | None = execute(runner, sandbox_run)
        broke = None
    except Exception as exc:  # the engine or the host failed, not the job: still end it
        result, broke = None, f"error: the sandbox could not run the job: {exc}"[:500]
    finally:  # a notebook's views are copies of store data: gone once the job is
        shutil.rmtree(sandbox_run.work_dir / "views", ignore_errors=True)
    produced = result.outputs if result is not None else []
    resources: dict[str, object] = {
        "seconds": round(result.seconds, 3) if result else None,
        "backend": runner.name,
        "exit_code": result.exit_code if result else None,
    }
    with session_factory() as session, session.begin():
        job = get_job(session, job_id)
        failure = result.failure if result is not None else broke
        result_path: Path | list[Path] | None = {p.name: p for p in produced}.get("result.parquet")
        if job.kind == "notebook" and failure is None:
            result_path, failure = _notebook_result(job, sandbox_run, produced)
        finish(session, home, job, result_path, failure, settings, resources)
    with session_factory() as session:
        job = get_job(session, job_id)
        session.expunge(job)
        return job
