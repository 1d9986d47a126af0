"""Review (出域审核) and release: who may approve, how many, and what leaves."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from audit_log import AuditEntry, TreeHead, with_signer
from audit_log.signing import session_signer
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from jobs.queries import get_job
from jobs.runner import run
from jobs.submit import submit_sql
from operators.accounts import add_user, get_user
from products.listing import list_product
from products.package import verify_package
from products.release import release_of
from products.review import review
from service.db import session_factory
from tests.conftest import AUTHORITY, World

# every test reviews the output of a job run in a real sandbox
pytestmark = pytest.mark.sandbox

L3_QUERY = "SELECT district, AVG(water_fee) AS f FROM enterprise_utilities GROUP BY district"
L1_QUERY = "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district"


def _ran(world: World, sql: str) -> int:
    with world.domain.transaction() as session:
        job_id = submit_sql(
            session, world.license_id, world.operator, sql, world.domain.settings.job_settings()
        ).id
    run(world.domain.sessions, world.domain.home, job_id, world.domain.settings.job_settings())
    return job_id


def _review(world: World, job_id: int, who: str, decision: str = "approve", reason: str = "ok"):
    with world.domain.transaction() as session:
        return review(
            session, world.domain.home, job_id, get_user(session, who), decision, reason
        ).status


def test_l3_output_needs_two_different_reviewers(world: World) -> None:
    job_id = _ran(world, L3_QUERY)
    assert _review(world, job_id, "wang") == "awaiting_review"
    with pytest.raises(Conflict, match="already reviewed"):
        _review(world, job_id, "wang")
    assert _review(world, job_id, "zhao") == "released"


def test_l1_output_needs_one_reviewer(world: World) -> None:
    assert _review(world, _ran(world, L1_QUERY), "wang") == "released"


def test_operators_and_regulators_cannot_review(world: World) -> None:
    job_id = _ran(world, L1_QUERY)
    for who in ("li", "mallory", "chen"):
        with pytest.raises(PermissionDenied):
            _review(world, job_id, who)


def test_denial_needs_a_reason_and_rejects(world: World) -> None:
    job_id = _ran(world, L1_QUERY)
    with pytest.raises(InvalidInput):
        _review(world, job_id, "wang", "deny", "")
    assert _review(world, job_id, "wang", "deny", "scope too broad") == "rejected"
    with world.domain.transaction() as session:
        assert release_of(session, job_id) is None


def test_blocked_output_cannot_be_approved(world: World) -> None:
    # grouping by a fine L2 key leaves most cells under the threshold: the table is blocked
    job_id = _ran(
        world,
        "SELECT street, founded, COUNT(*) AS n FROM enterprise_utilities GROUP BY street, founded",
    )
    with world.domain.transaction() as session:
        assert get_job(session, job_id).status == "blocked"
    with pytest.raises(Conflict, match="blocked"):
        _review(world, job_id, "wang")


def _no_timed_heads(world: World) -> World:
    """The same domain, but its sessions sign heads only when told (no minute timer)."""
    with world.domain.sessions() as session:
        signer = session_signer(session)
    assert signer is not None
    sessions = with_signer(session_factory(world.domain.engine), signer, 10**9)
    return replace(world, domain=replace(world.domain, sessions=sessions))


def test_release_package_verifies_and_names_its_provenance(world: World) -> None:
    job_id = _ran(world, L3_QUERY)
    world = _no_timed_heads(world)  # so the head below can only come from the release
    _review(world, job_id, "wang")
    _review(world, job_id, "zhao")
    with world.domain.transaction() as session:
        release = release_of(session, job_id)
        product = list_product(session, release.id, world.operator, "index", price_yuan=10)
        with pytest.raises(NotFound):  # another company's release: as if it did not exist
            list_product(session, release.id, world.outsider, "stolen")
    with world.domain.transaction() as session:  # the release is under a signed head at once
        created = session.scalar(
            select(AuditEntry.seq).where(
                AuditEntry.action == "release.created",
                AuditEntry.subject == f"release:{release.id}",
            )
        )
        last = session.scalars(select(TreeHead).order_by(TreeHead.size.desc()).limit(1)).first()
    assert created is not None and last is not None
    assert last.reason == "release" and last.size >= created
    package = world.domain.home.root / release.package_path
    checked = verify_package(package, world.domain.home.public_key())
    assert checked.ok, checked.problems
    manifest = checked.manifest
    assert manifest["reviewers"] == ["wang", "zhao"] and manifest["license"] == world.license_id
    assert manifest["datasets"] == ["enterprise_utilities"]
    assert all("figures" not in f for f in manifest["findings"])
    [noise] = manifest["noise"]  # how far the released averages may be from the exact ones
    assert noise["column"] == "f" and noise["epsilon"] == manifest["epsilon"]
    # centred on its bounds' middle, the average's sum needs half the sensitivity
    assert noise["granularity"] == 1_000 and noise["ci95"] > 0 and noise["ci95_divisor"] == "rows"
    assert product.provenance["package_sha256"] == release.sha256


def test_reviewer_from_the_submitting_company_is_refused(world: World) -> None:
    job_id = _ran(world, L1_QUERY)
    with world.domain.transaction() as session:
        insider = add_user(session, "insider", "reviewer", None, AUTHORITY)
        insider.operator_id = world.operator.operator_id
    with pytest.raises(PermissionDenied, match="own company"):
        _review(world, job_id, "insider")


def test_output_awaiting_review_is_not_released_after_revocation(world: World) -> None:
    from core.errors import LicenseInvalid
    from operators.licenses import revoke_license

    job_id = _ran(world, L1_QUERY)
    with world.domain.transaction() as session:
        revoke_license(session, world.license_id, AUTHORITY, "misuse found")
    with pytest.raises(LicenseInvalid, match="revoked"):
        _review(world, job_id, "wang")
    with world.domain.transaction() as session:
        assert release_of(session, job_id) is None
        assert get_job(session, job_id).status == "awaiting_review"
