"""A DP model as a released artefact: `model.json` beside a job's gated outputs.

A model reaches review as part of a job's candidates, leaves in the release package
as `model.json` (a `gate.model_artifact.DpModel`, never a pickle), and is what a
scoring interface loads, after checking it is byte for byte the file reviewed.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction, append
from core.errors import Conflict, InvalidInput
from core.home import Home
from gate.model_artifact import DpModel
from gate.step import candidate_dir
from jobs.records import Job, JobStatus
from products.records import Release

MODEL_FILE = "model.json"


def attach_model(session: Session, home: Home, job: Job, model: DpModel, actor: Actor) -> None:
    """Add a model record to a job's candidates before review, as `model.json`."""
    if job.status != JobStatus.AWAITING_REVIEW:
        raise Conflict.coded("product_model_late", job_id=job.id, status=str(job.status))
    if MODEL_FILE in job.outputs:
        raise Conflict.coded("product_model_twice", job_id=job.id)
    data = model.to_json().encode("utf-8")
    folder = candidate_dir(home, job)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MODEL_FILE).write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    entry = {"name": MODEL_FILE, "kind": "model", "blocked": False, "sha256": digest}
    job.outputs = [*job.outputs, MODEL_FILE]
    job.gate = {**job.gate, "files": [*job.gate.get("files", []), entry]}
    details = {
        "kind": model.kind,
        "features": model.features,
        "epsilon": model.epsilon,
        "sha256": digest,
        "license": job.license_id,
        "operator_id": job.operator_id,
    }
    append(session, actor, AuditAction.MODEL_ATTACHED, f"job:{job.id}", details)


def released_model(session: Session, home: Home, release: Release) -> tuple[DpModel, str]:
    """The model a release carries and its SHA-256, as reviewed; InvalidInput if none."""
    job = session.get(Job, release.job_id)
    assert job is not None
    reviewed = {f["name"]: f for f in job.gate.get("files", [])}.get(MODEL_FILE)
    if MODEL_FILE not in release.files or reviewed is None:
        raise InvalidInput.coded("product_release_no_model", release_id=release.id, file=MODEL_FILE)
    data = (candidate_dir(home, job) / MODEL_FILE).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != reviewed["sha256"]:
        raise Conflict.coded("product_model_changed", file=MODEL_FILE, release_id=release.id)
    return DpModel.from_json(data), digest
