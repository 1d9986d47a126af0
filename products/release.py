"""Releasing an approved output as a signed package: the only way data leaves the domain."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import Actor, append, head
from core.errors import NotFound
from core.home import Home
from operators.records import License, Operator
from products.outputs import candidate_dir
from products.package import build_package
from products.records import Release
from sandbox.lifecycle import transition
from sandbox.records import Job, public_findings


def release_job(
    session: Session, home: Home, job: Job, reviewers: list[str], actor: Actor
) -> Release:
    license = session.get(License, job.license_id)
    operator = session.get(Operator, job.operator_id)
    assert license is not None and operator is not None
    candidate = candidate_dir(home, job)
    files = {name: (candidate / name).read_bytes() for name in job.outputs}
    last = head(session)
    manifest = {
        "job": job.id,
        "license": license.id,
        "operator": operator.name,
        "purpose": license.purpose,
        "datasets": job.policy.get("datasets", []),
        "policy_version": job.policy.get("policy_version"),
        "sql": job.source,
        "rewritten_sql": job.rewritten_sql,
        "epsilon": job.epsilon,
        "checks": {k: v for k, v in job.gate.items() if k != "findings"},
        "findings": public_findings(job.gate),
        "reviewers": reviewers,
        "audit_position": {"seq": last.seq, "hash": last.entry_hash} if last else None,
    }
    path = home.releases / f"job-{job.id}.zip"
    digests = build_package(path, files, manifest, home.signing_key())
    release = Release(
        job_id=job.id,
        package_path=str(path.relative_to(home.root)),
        sha256=digests["sha256"],
        manifest=manifest,
        files=sorted(files),
    )
    session.add(release)
    session.flush()
    transition(session, job, "released", actor, {"release": release.id, "sha256": release.sha256})
    append(
        session,
        actor,
        "release.created",
        f"release:{release.id}",
        {"job": job.id, "sha256": release.sha256, "files": release.files},
    )
    return release


def release_of(session: Session, job_id: int) -> Release | None:
    return session.scalar(select(Release).where(Release.job_id == job_id))


def get_release(session: Session, release_id: int) -> Release:
    release = session.get(Release, release_id)
    if release is None:
        raise NotFound(f"no release with id {release_id}")
    return release
