"""Releasing an approved output as a signed package: the only way data leaves the domain.

The package holds the gated tables and, only when two reviewers approved an
exception with a written justification, the job's custom files; other custom
files are withheld and named in the manifest. If the operator has a registered
delivery key, the files are encrypted to it. The manifest names the job, license,
operator, datasets and their versions, policy version, each noisy column's ε,
granularity and 95 % interval, checks, reviewers and the audit position, and is
signed with the domain's key.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction, append, head, sign_if_able
from catalog import get_dataset
from core.errors import Conflict, LicenseInvalid, NotFound, Reason, Step
from core.home import Home
from gate.findings import Finding
from gate.populations import check_at_release, mark_released
from gate.step import candidate_dir
from jobs.lifecycle import transition
from jobs.records import Job, JobStatus, public_findings
from operators.licenses import usable_license
from operators.records import License, Operator
from policies import NoiseSpec
from products.crypto import load_recipient, seal
from products.package import MANIFEST, build_package
from products.reasons import reason
from products.recipients import active_key
from products.records import Release

__all__ = [
    "ExceptionGrant",
    "get_release",
    "model_manifest",
    "release_job",
    "release_of",
    "released_files",
]


@dataclass(frozen=True)
class ExceptionGrant:
    """Custom outputs released by exception: who approved it and why (for the audit log)."""

    reviewers: list[str]
    justifications: list[str] = field(default_factory=list)


def released_files(job: Job, exception: bool) -> tuple[list[str], list[str]]:
    """(files to release, custom files withheld) among the job's gated outputs."""
    kinds = {f["name"]: f["kind"] for f in job.gate.get("files", [])}
    custom = [name for name in job.outputs if kinds.get(name) == "custom"]
    tables = [name for name in job.outputs if name not in custom]
    return (tables + custom, []) if exception else (tables, custom)


def _checks(job: Job) -> dict[str, Any]:
    """The gate's verdict as it may leave: no findings' figures, nothing about other jobs
    (the differencing summary would name them)."""
    keep = ("blocked", "suppressed_share", "cells_checked", "counts", "rules")
    checks = {k: job.gate[k] for k in keep if k in job.gate}
    checks["files"] = [
        {k: f.get(k) for k in ("name", "kind", "blocked", "cells_checked", "suppressed_share")}
        for f in job.gate.get("files", [])
    ]
    return checks


def model_manifest(job: Job) -> dict[str, Any]:
    """A DP model's facts as the gate read them from its model.json."""
    keys = ("model", "features", "label", "bounds", "epsilon", "training_rows")
    found: dict[str, Any] = next(
        (f for f in job.gate.get("files", []) if f.get("kind") == "model"), {}
    )
    return {k: found.get(k) for k in keys}


def _noise_manifest(stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each noisy column's mechanism, ε, granularity and 95 % half-width, so a recipient
    knows how far each released value may be from the exact one (read through NoiseSpec,
    so a decision stored before intervals existed still states them)."""
    return [NoiseSpec(**spec).to_dict() for spec in stored]


def _manifest(session: Session, job: Job, reviewers: list[str], withheld: list[str]) -> dict:
    license = session.get(License, job.license_id)
    operator = session.get(Operator, job.operator_id)
    assert license is not None and operator is not None
    datasets = job.policy.get("datasets", [])
    last = head(session)
    return {
        "job": job.id,
        "kind": job.kind,
        "license": license.id,
        "operator": operator.name,
        "purpose": license.purpose,
        "datasets": datasets,
        "dataset_versions": {name: get_dataset(session, name).version for name in datasets},
        "policy_version": job.policy.get("policy_version"),
        "level": job.level,
        "sql": job.source if job.kind == "sql" else None,
        "source_sha256": job.source_digest,
        "rewritten_sql": job.rewritten_sql,
        "epsilon": job.epsilon,
        "noise": _noise_manifest(job.policy.get("noise", [])),
        "checks": _checks(job),
        "findings": public_findings(job.gate),
        "reviewers": reviewers,
        "withheld": withheld,
        "audit_position": {"seq": last.seq, "hash": last.entry_hash} if last else None,
    }


def _refuse_differencing(session: Session, job: Job) -> None:
    """An output gated at the same moment as this one (neither saw the other) and
    released since may difference it: check again against released cells."""
    found = check_at_release(session, job.id).findings
    if found:
        refused = Conflict.coded("product_release_differencing", job_id=job.id)
        raise replace(refused, reasons=[_differencing(f) for f in found])


def _refuse_stopped_license(session: Session, job: Job) -> None:
    """Nothing leaves under a license that stopped; the refusal says why in the
    license's own words, with the job named."""
    try:
        usable_license(session, job.license_id)
    except LicenseInvalid as stopped:
        figures, license_id = stopped.figures or {}, job.license_id
        if stopped.message_code == "license_not_yet":
            raise LicenseInvalid.coded(
                "product_release_license_not_yet",
                job_id=job.id,
                license_id=license_id,
                valid_from=figures["valid_from"],
            ) from None
        if stopped.message_code == "license_not_active":
            raise LicenseInvalid.coded(
                "product_release_license_not_active",
                job_id=job.id,
                license_id=license_id,
                status=figures["status"],
            ) from None
        raise LicenseInvalid.coded(
            "product_release_license_expired",
            job_id=job.id,
            license_id=license_id,
            valid_until=figures["valid_until"],
        ) from None


def _differencing(finding: Finding) -> Reason:
    """A differencing finding as a reason, with the figures its wording is made from."""
    figures = {k: finding.figures[k] for k in ("earlier", "difference", "threshold", "groups")}
    return reason(
        "differencing",
        message=finding.message,
        suggestion=finding.suggestion,
        row=finding.row,
        **figures,
    )


def release_job(
    session: Session,
    home: Home,
    job: Job,
    reviewers: list[str],
    actor: Actor,
    exception: ExceptionGrant | None = None,
) -> Release:
    """Package the approved outputs, sign, encrypt if the operator has a key, record.

    Nothing leaves under a license that stopped (suspended, revoked, expired) while
    the output waited for review.
    """
    _refuse_stopped_license(session, job)
    _refuse_differencing(session, job)
    names, withheld = released_files(job, exception is not None)
    if not names:
        raise Conflict.coded("nothing_releasable", job_id=job.id)
    candidate = candidate_dir(home, job)
    files = {name: (candidate / name).read_bytes() for name in names}
    manifest = _manifest(session, job, reviewers, withheld)
    if job.kind == "model":  # what a reviewer approved: kind, ε, bounds, training rows
        manifest["model"] = model_manifest(job)
    if exception is not None:
        manifest["exception"] = {"files": [n for n in names if n.startswith("custom/")]}
    members = files
    key = active_key(session, job.operator_id)
    if key is not None:
        members, envelope = seal(files, load_recipient(key.public_key.encode()), key.cipher)
        manifest["encryption"] = envelope
    path = home.releases / f"job-{job.id}.zip"
    digests = build_package(path, members, manifest, home.package_key())
    with zipfile.ZipFile(path) as archive:  # the manifest as signed, with its file list
        signed = json.loads(archive.read(MANIFEST))
    release = Release(
        job_id=job.id,
        package_path=str(path.relative_to(home.root)),
        sha256=digests["sha256"],
        manifest=signed,
        files=sorted(files),
    )
    session.add(release)
    session.flush()
    transition(
        session, job, JobStatus.RELEASED, actor, {"release": release.id, "sha256": release.sha256}
    )
    mark_released(session, job.id)
    details = {
        "job": job.id,
        "sha256": release.sha256,
        "files": release.files,
        "withheld": withheld,
        "encrypted_to": key.fingerprint if key is not None else None,
    }
    append(session, actor, AuditAction.RELEASE_CREATED, f"release:{release.id}", details)
    if exception is not None:
        append(
            session,
            actor,
            AuditAction.RELEASE_EXCEPTION,
            f"release:{release.id}",
            {
                "job": job.id,
                "custom_files": manifest["exception"]["files"],
                "reviewers": exception.reviewers,
                "justifications": exception.justifications,
            },
        )
    sign_if_able(session, "release")  # a release is a moment a regulator may pin
    return release


def release_of(session: Session, job_id: int) -> Release | None:
    return session.scalar(select(Release).where(Release.job_id == job_id))


def release_not_found(release_id: int) -> NotFound:
    """The one answer for a release that does not exist or went to another company."""
    return NotFound.coded(
        "release_missing",
        suggestion="look up the release of its job",
        step=Step.SHOW_JOB,
        release_id=release_id,
    )


def list_releases(session: Session, operator_id: int | None = None) -> list[Release]:
    """Releases, oldest first; only those of one company's jobs with operator_id."""
    query = select(Release).join(Job, Job.id == Release.job_id).order_by(Release.id)
    if operator_id is not None:
        query = query.where(Job.operator_id == operator_id)
    return list(session.scalars(query))


def get_release(session: Session, release_id: int) -> Release:
    release = session.get(Release, release_id)
    if release is None:
        raise release_not_found(release_id)
    return release
