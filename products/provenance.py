"""A product's provenance (来源) and the checks a buyer can rerun on it.

Provenance names the job, datasets, policy version, reviews, the audit-log position
at release and the signed manifest of the release package; `verify_provenance`
checks each of them against the domain's records and its public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import AuditEntry, verify_entries
from core.home import Home
from jobs.records import Job
from products.package import MANIFEST, SIGNATURE, verify_package
from products.records import Product, Release, Review

# What each check says when it holds and when it fails, over the figures it carries; a
# front end words a check in its own language from its name, outcome and figures.
CHECKS: dict[str, tuple[str, str]] = {
    "release": (
        "the release and the job behind it are on record",
        "the release or job behind it is missing",
    ),
    "package_signature": (
        "{alg} signature over the manifest verifies with the domain's public key",
        "the signature over the manifest does not verify: {problems}",
    ),
    "package_digest": (
        "sha256 {digest}… matches the listing",
        "sha256 {digest}… differs from the listing",
    ),
    "manifest_matches_listing": (
        "job, license, datasets, policy version, reviewers and audit position agree",
        "the listing's provenance differs from the signed manifest",
    ),
    "reviews": (
        "{approvals} of {required} required approvals recorded: {reviewers}",
        "{approvals} of {required} required approvals recorded: {reviewers}",
    ),
    "audit_position": (
        "audit entry {seq} has hash {hash}… and the chain to it verifies",
        "audit entry {seq} has hash {hash}… and the chain to it does not verify ({problem})",
    ),
}


@dataclass(frozen=True)
class ProvenanceCheck:
    check: str
    ok: bool
    detail: str
    figures: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(name: str, ok: bool, **figures: Any) -> ProvenanceCheck:
    """A check and its English detail, worded from CHECKS with its figures."""
    detail = CHECKS[name][0 if ok else 1].format(**figures)
    return ProvenanceCheck(name, ok, detail, figures or None)


def signed_manifest(home: Home, release: Release) -> dict[str, str]:
    """The release's manifest bytes and signature as stored in its package (base64)."""
    with zipfile.ZipFile(home.root / release.package_path) as archive:
        manifest = archive.read(MANIFEST)
        signature = archive.read(SIGNATURE).decode()
    return {
        "manifest_b64": base64.b64encode(manifest).decode(),
        "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        "signature_b64": signature,
        "signature_alg": json.loads(manifest).get("signature_alg", "Ed25519"),
        "public_key_pem": home.public_key_path.read_text(),
    }


def provenance_of(session: Session, release: Release, job: Job, home: Home | None) -> dict:
    reviews = session.scalars(select(Review).where(Review.job_id == job.id).order_by(Review.id))
    provenance: dict[str, Any] = {
        "job": job.id,
        "license": job.license_id,
        "release": release.id,
        "datasets": job.policy.get("datasets", []),
        "policy_version": job.policy.get("policy_version"),
        "level": job.level,
        "epsilon": job.epsilon,
        "package_sha256": release.sha256,
        "reviewers": release.manifest.get("reviewers", []),
        "reviews": [{k: r.to_dict()[k] for k in ("reviewer", "decision", "at")} for r in reviews],
        "audit_position": release.manifest.get("audit_position"),
    }
    if home is not None:
        signed = signed_manifest(home, release)
        provenance["manifest_sha256"] = signed["manifest_sha256"]
        provenance["signature_b64"] = signed["signature_b64"]
        provenance["signature_alg"] = signed["signature_alg"]
    return provenance


def _package_checks(home: Home, release: Release, product: Product) -> list[ProvenanceCheck]:
    path = home.root / release.package_path
    if not path.exists():
        return [_check("package_signature", False, problems="the release package is missing")]
    verified = verify_package(path, home.public_key())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    expected = product.provenance.get("package_sha256")
    manifest = verified.manifest or {}
    same = all(
        manifest.get(key) == product.provenance.get(value)
        for key, value in (
            ("job", "job"),
            ("license", "license"),
            ("datasets", "datasets"),
            ("policy_version", "policy_version"),
            ("reviewers", "reviewers"),
            ("audit_position", "audit_position"),
        )
    )
    signature = (
        {"alg": manifest.get("signature_alg", "Ed25519")}
        if verified.ok
        else {"problems": "; ".join(verified.problems)}
    )
    return [
        _check("package_signature", verified.ok, **signature),
        _check("package_digest", digest == expected == release.sha256, digest=digest[:16]),
        _check("manifest_matches_listing", same),
    ]


def _review_check(session: Session, job: Job, product: Product) -> ProvenanceCheck:
    approvals = list(
        session.scalars(
            select(Review.reviewer).where(Review.job_id == job.id, Review.decision == "approve")
        )
    )
    named = sorted(product.provenance.get("reviewers", []))
    ok = len(approvals) >= job.required_reviews and sorted(approvals) == named
    return _check(
        "reviews",
        ok,
        approvals=len(approvals),
        required=job.required_reviews,
        reviewers=", ".join(approvals),
    )


def _audit_check(session: Session, product: Product) -> ProvenanceCheck:
    position = product.provenance.get("audit_position") or {}
    seq = position.get("seq")
    if not seq:
        return _check("audit_position", False, seq="—", hash="—", problem="no position named")
    rows = session.scalars(select(AuditEntry).where(AuditEntry.seq <= seq).order_by(AuditEntry.seq))
    chain = verify_entries(r.to_dict() for r in rows)
    ok = chain.ok and chain.entries == seq and chain.head_hash == position.get("hash")
    figures = {"seq": seq, "hash": str(position.get("hash"))[:16]}
    if not ok:
        figures["problem"] = chain.problem or "hash differs"
    return _check("audit_position", ok, **figures)


def verify_provenance(session: Session, home: Home, product: Product) -> list[ProvenanceCheck]:
    """Recheck everything the listing claims; a buyer sees each check and its outcome."""
    release = session.get(Release, product.release_id)
    job = session.get(Job, product.provenance.get("job"))
    if release is None or job is None:
        return [_check("release", False)]
    return [
        *_package_checks(home, release, product),
        _review_check(session, job, product),
        _audit_check(session, product),
    ]
