"""Running a queued job: sandbox, then noise and the output gate, to its next resting state.

`run` moves a queued job through the sandbox and the output gate to
`awaiting_review`, or to `failed`/`blocked` with the reason; each step commits on
its own, and nothing it writes leaves the domain.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from audit_log import Actor, append
from catalog import get_dataset
from core.errors import LicenseInvalid
from core.home import Home
from gate.populations import keep
from gate.step import gate_job_outputs
from jobs import notebooks
from jobs.license_limits import limits_for
from jobs.lifecycle import transition
from jobs.queries import get_job, job_dir
from jobs.records import Job
from jobs.settings import JobSettings
from operators.licenses import license_stop_reason, usable_license
from sandbox.runner import SandboxResult, SandboxRun, execute


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
    if outcome.status == "awaiting_review":  # it may leave now: later outputs meet it
        keep(session, job.id, job.operator_id, outcome.populations, outcome.threshold)
    for alert in outcome.alerts:
        append(
            session,
            Actor.system(),
            f"alert.{alert}",
            f"job:{job.id}",
            {"license": job.license_id, "operator_id": job.operator_id},
        )


def notebook_result(
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
            result_path, failure = notebook_result(job, sandbox_run, produced)
        finish(session, home, job, result_path, failure, settings, resources)
    with session_factory() as session:
        job = get_job(session, job_id)
        session.expunge(job)
        return job
