"""What reviewers see, what operators see, and encrypted delivery to the operator."""

from __future__ import annotations

import json

import pytest

from core.errors import Conflict, NotFound, PermissionDenied
from gate.step import candidate_dir
from jobs.submit import submit_sql
from operators.accounts import get_user
from products.crypto import generate_operator_key, load_private_key, open_package
from products.package import verify_package
from products.recipients import register_key
from products.release import release_of
from products.review_view import queue_items, review_view
from tests.conftest import AUTHORITY, World
from tests.products.conftest import L1_QUERY, L3_QUERY, decide, job_of, ran

FINE_QUERY = (
    "SELECT district, industry, AVG(capital) AS c, COUNT(*) AS n FROM enterprise_utilities "
    "GROUP BY district, industry"
)


@pytest.mark.sandbox
def test_the_review_view_shows_sql_outputs_checks_with_figures_and_lineage(world: World) -> None:
    job_id = ran(world, FINE_QUERY)
    with world.domain.transaction() as session:
        view = review_view(session, world.domain.home, job_id)
    assert view["source"]["submitted"] == FINE_QUERY
    assert "__n" in view["source"]["rewritten_sql"]
    [output] = view["outputs"]
    assert output["name"] == "result.csv" and output["kind"] == "table"
    assert output["columns"] == ["district", "industry", "c", "n"] and output["preview"]
    threshold = [f for f in view["checks"]["findings"] if f["rule"] == "threshold"]
    assert threshold and all(f["figures"]["n"] < 10 for f in threshold)
    assert view["checks"]["rules"]["threshold"] == 10
    lineage = view["lineage"]
    assert lineage["datasets"] == [
        {
            "name": "enterprise_utilities",
            "version": 1,
            "title": lineage["datasets"][0]["title"],
            "owner": lineage["datasets"][0]["owner"],
        }
    ]
    assert lineage["license"]["id"] == world.license_id
    assert lineage["license"]["purpose"] == "test scenario"
    assert lineage["policy_version"] and lineage["level"] == "L2"
    assert view["review"]["required_reviews"] == 1 and view["review"]["approvals"] == []
    # the operator's own view of the same job never carries a figure
    operator_view = job_of(world, job_id).to_dict(for_operator=True)
    for finding in operator_view["gate"]["findings"]:
        assert set(finding) <= {"rule", "row", "column", "suggestion"}
    assert '"figures"' not in json.dumps(operator_view)


@pytest.mark.sandbox
def test_the_queue_shows_what_each_reviewer_may_still_decide(world: World) -> None:
    job_id = ran(world, L3_QUERY)
    with world.domain.transaction() as session:
        items = queue_items(session)
        assert [i["job"] for i in items] == [job_id]
        assert items[0]["required_reviews"] == 2 and items[0]["level"] == "L3"
        assert items[0]["operator"] == "甬城数据运营有限公司"
    decide(world, job_id, "wang")
    with world.domain.transaction() as session:
        assert queue_items(session, get_user(session, "wang")) == []
        [left] = queue_items(session, get_user(session, "zhao"))
        assert left["approvals"] == ["wang"]
        assert queue_items(session, get_user(session, "li")) == []


def test_a_job_without_outputs_has_no_review_view(world: World) -> None:
    settings = world.domain.settings.job_settings()
    with world.domain.transaction() as session:
        job_id = submit_sql(session, world.license_id, world.operator, L1_QUERY, settings).id
    with pytest.raises(NotFound), world.domain.transaction() as session:
        review_view(session, world.domain.home, job_id)


@pytest.mark.sandbox
@pytest.mark.parametrize("cipher", ["AES-256-GCM", "SM4-GCM"])
def test_releases_are_encrypted_to_the_operators_registered_key(world: World, cipher: str) -> None:
    private_pem, public_pem = generate_operator_key()
    with world.domain.transaction() as session:
        with pytest.raises(PermissionDenied):
            register_key(session, "甬城数据运营有限公司", public_pem, world.operator.actor)
    with world.domain.transaction() as session:
        register_key(session, "甬城数据运营有限公司", public_pem, AUTHORITY, cipher)
    with pytest.raises(Conflict), world.domain.transaction() as session:
        register_key(session, "甬城数据运营有限公司", public_pem, AUTHORITY, cipher)
    job_id = ran(world, L1_QUERY)
    assert decide(world, job_id, "wang") == "released"
    with world.domain.transaction() as session:
        release = release_of(session, job_id)
        assert release is not None
        package = world.domain.home.root / release.package_path
        manifest = release.manifest
    assert manifest["encryption"]["cipher"] == cipher
    assert list(manifest["files"]) == ["result.csv.enc"]
    assert manifest["dataset_versions"] == {"enterprise_utilities": 1}
    assert manifest["checks"]["rules"]["threshold"] == 10
    assert manifest["audit_position"]["seq"] > 0
    checked = verify_package(package, world.domain.home.public_key())
    assert checked.ok, checked.problems
    _, files = open_package(package, world.domain.home.public_key(), load_private_key(private_pem))
    expected = (candidate_dir(world.domain.home, job_of(world, job_id)) / "result.csv").read_bytes()
    assert files == {"result.csv": expected}
