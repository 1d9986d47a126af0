"""Review and release as users run them: the `sluice review|outputs|releases` commands,
offline verification with only the public key, and the review API."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from operators.accounts import create_token, get_user
from tests.conftest import AUTHORITY, World, run_cli
from tests.products.conftest import L1_QUERY, L3_QUERY, ran

UNTIL = (date.today() + timedelta(days=30)).isoformat()


def sluice(home: Path, *args: str) -> object:
    return json.loads(run_cli(*args, "--json", home=home, check=True).stdout)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, demo_files) -> Path:
    """A home set up through the CLI once per module; each test copies it."""
    home = tmp_path_factory.mktemp("review-cli") / "home"
    (data, schema), _ = demo_files
    sluice(home, "init")
    sluice(home, "catalog", "ingest", str(data), "--schema", str(schema))
    sluice(home, "operators", "add", "acme")
    sluice(home, "users", "add", "ann", "--role", "operator", "--operator", "acme")
    for name in ("rev1", "rev2"):
        sluice(home, "users", "add", name, "--role", "reviewer")
    sluice(
        home, "licenses", "grant", "--operator", "acme", "--dataset", "enterprise_utilities",
        "--max-level", "L3", "--purpose", "testing", "--until", UNTIL,
    )  # fmt: skip
    return home


@pytest.fixture
def home(prepared: Path, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(prepared, home)
    return home


def submit(home: Path, tmp_path: Path, sql: str) -> dict:
    path = tmp_path / "q.sql"
    path.write_text(sql, encoding="utf-8")
    return sluice(home, "jobs", "submit", "--license", "1", "--sql", str(path), "--wait")  # type: ignore[return-value]


@pytest.mark.slow
@pytest.mark.sandbox
def test_review_release_and_offline_verification_through_the_cli(
    home: Path, tmp_path: Path
) -> None:
    job = submit(home, tmp_path, L3_QUERY)
    assert job["status"] == "awaiting_review"
    [queued] = sluice(home, "review", "queue")  # type: ignore[misc]
    assert queued["job"] == job["id"] and queued["required_reviews"] == 2
    shown = sluice(home, "review", "show", str(job["id"]))
    assert shown["lineage"]["datasets"][0]["name"] == "enterprise_utilities"  # type: ignore[index]
    assert "__n" in shown["source"]["rewritten_sql"]  # type: ignore[index]
    text = run_cli("review", "show", str(job["id"]), home=home, check=True).stdout
    assert "rules:" in text and "approvals 0/2" in text
    table = shown["outputs"][0]  # type: ignore[index]
    assert table["preview"] and all(column in text for column in table["columns"])
    first = next(iter(table["preview"][0].values()))
    assert str(first) in text  # the rows themselves, not only their count
    sluice(home, "review", "approve", str(job["id"]), "--reviewer", "rev1")
    assert sluice(home, "review", "queue", "--reviewer", "rev1") == []
    done = sluice(home, "review", "approve", str(job["id"]), "--reviewer", "rev2")
    assert done["status"] == "released"  # type: ignore[index]
    release = sluice(home, "releases", "show", "1")
    package = home / release["package"]  # type: ignore[index]
    sluice(home, "audit", "pubkey", "--output", str(tmp_path / "domain.pem"))

    # offline: no domain at all, only the package and the public key
    nowhere = tmp_path / "nowhere"
    key = str(tmp_path / "domain.pem")
    checked = sluice(nowhere, "releases", "verify", str(package), "--pubkey", key)
    assert checked["ok"] is True and checked["manifest"]["job"] == job["id"]  # type: ignore[index]
    raw = bytearray(package.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (tmp_path / "tampered.zip").write_bytes(bytes(raw))
    failed = run_cli("releases", "verify", str(tmp_path / "tampered.zip"), "--pubkey", key,
                     home=nowhere)  # fmt: skip
    assert failed.returncode == 10 and "FAILED" in failed.stdout
    assert not nowhere.exists()


@pytest.mark.slow
@pytest.mark.sandbox
def test_encrypted_delivery_opens_offline_with_the_operators_key(
    home: Path, tmp_path: Path
) -> None:
    keys = tmp_path / "acme"
    made = sluice(tmp_path / "nowhere", "releases", "keygen", "--out", str(keys))
    assert (Path(made["private_key"]).stat().st_mode & 0o777) == 0o600  # type: ignore[index]
    added = sluice(home, "releases", "keys", "add", "--operator", "acme", "--key",
                   made["public_key"], "--cipher", "SM4-GCM")  # type: ignore[index]  # fmt: skip
    assert added["cipher"] == "SM4-GCM"  # type: ignore[index]
    job = submit(home, tmp_path, L1_QUERY)
    sluice(home, "review", "approve", str(job["id"]), "--reviewer", "rev1")
    package = home / sluice(home, "releases", "show", "1")["package"]  # type: ignore[index]
    sluice(home, "audit", "pubkey", "--output", str(tmp_path / "domain.pem"))
    out = tmp_path / "opened"
    sluice(tmp_path / "nowhere", "releases", "open", str(package), "--out", str(out),
           "--key", made["private_key"], "--pubkey", str(tmp_path / "domain.pem"))  # type: ignore[index]  # fmt: skip
    assert (out / "result.csv").read_text(encoding="utf-8").startswith("district,n")
    locked = run_cli("releases", "open", str(package), "--out", str(tmp_path / "x"), home=home)
    assert locked.returncode == 2 and "--key" in locked.stderr


@pytest.mark.slow
def test_dataset_rules_through_the_cli(home: Path) -> None:
    args = ("outputs", "rules", "set", "--dataset", "enterprise_utilities", "--threshold", "5")
    refused = run_cli(*args, home=home)
    assert refused.returncode == 2 and "weaker" in refused.stderr
    sluice(home, *args, "--allow-weaker", "threshold")
    rules = sluice(home, "outputs", "rules", "show")
    [dataset] = rules["datasets"]  # type: ignore[index]
    assert dataset["effective"]["threshold"] == 5 and rules["domain"]["threshold"] == 10  # type: ignore[index]
    sluice(home, "outputs", "rules", "clear", "--dataset", "enterprise_utilities")
    assert sluice(home, "outputs", "rules", "show")["datasets"] == []  # type: ignore[index]


@pytest.mark.sandbox
def test_the_review_api(api: TestClient, world: World) -> None:
    with world.domain.transaction() as session:
        tokens = {
            n: {"Authorization": f"Bearer {create_token(session, get_user(session, n), AUTHORITY)}"}
            for n in ("li", "mallory", "wang", "zhao")
        }
    job_id = ran(world, L3_QUERY)
    assert api.get("/api/v1/review/queue", headers=tokens["li"]).status_code == 403
    queue = api.get("/api/v1/review/queue", headers=tokens["wang"]).json()["items"]
    assert [item["job"] for item in queue] == [job_id]
    view = api.get(f"/api/v1/review/jobs/{job_id}", headers=tokens["wang"]).json()
    assert view["lineage"]["license"]["id"] == world.license_id
    assert api.get(f"/api/v1/review/jobs/{job_id}", headers=tokens["li"]).status_code == 403
    deny = api.post(f"/api/v1/review/jobs/{job_id}/deny", json={"reason": ""},
                    headers=tokens["wang"])  # fmt: skip
    assert deny.status_code == 422
    first = api.post(f"/api/v1/review/jobs/{job_id}/approve", json={}, headers=tokens["wang"])
    assert first.status_code == 200 and first.json()["status"] == "awaiting_review"
    again = api.post(f"/api/v1/review/jobs/{job_id}/approve", json={}, headers=tokens["wang"])
    assert again.status_code == 409
    second = api.post(f"/api/v1/review/jobs/{job_id}/approve", json={"reason": "fine"},
                      headers=tokens["zhao"]).json()  # fmt: skip
    release_id = second["release"]["id"]
    package = api.get(f"/api/v1/releases/{release_id}/package", headers=tokens["li"])
    assert package.status_code == 200 and package.content.startswith(b"PK")
    assert package.headers["content-type"] == "application/zip"
    other = api.get(f"/api/v1/releases/{release_id}/package", headers=tokens["mallory"])
    assert other.status_code == 404
    record = api.get(f"/api/v1/releases/{release_id}", headers=tokens["li"]).json()
    assert record["manifest"]["reviewers"] == ["wang", "zhao"]


@pytest.mark.sandbox
def test_an_approval_the_differencing_store_cannot_vouch_for_is_refused(
    api: TestClient, world: World
) -> None:
    """A job whose stored population no longer reads cannot be checked against what was
    released since, so approving it through the API is a 409 problem naming the cell,
    with the code and figures a client words it from (the console's catalog has it in
    Chinese); the job stays under review, nothing is released, and the log records
    the refusal."""
    from sqlalchemy import select, update

    from audit_log import AuditEntry
    from gate.records import CellPopulation
    from products.release import release_of
    from service.web.i18n import translator

    with world.domain.transaction() as session:
        token = create_token(session, get_user(session, "wang"), AUTHORITY)
    wang = {"Authorization": f"Bearer {token}"}
    # an undistorted sum (L2): its cells are kept in the differencing store
    job_id = ran(world, "SELECT district, SUM(employees) AS e FROM enterprise_utilities GROUP BY 1")
    with world.domain.transaction() as session:
        damaged = update(CellPopulation).where(CellPopulation.job_id == job_id)
        assert session.execute(damaged.values(sketch=b"\x01")).rowcount > 0
    refused = api.post(
        f"/api/v1/review/jobs/{job_id}/approve", json={"reason": "checks passed"}, headers=wang
    )
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert (problem["error"], problem["code"]) == ("conflict", "population_unreadable")
    assert problem["figures"] == {"job_id": job_id, "file": "result.csv", "row": 0}
    assert "does not read" in problem["detail"] and "run it again" in problem["detail"]
    zh = translator("zh-CN")("message:population_unreadable", **problem["figures"])
    assert f"作业 {job_id}" in zh and "重新运行" in zh
    view = api.get(f"/api/v1/review/jobs/{job_id}", headers=wang).json()
    assert view["job"]["status"] == "awaiting_review"
    with world.domain.transaction() as session:
        assert release_of(session, job_id) is None
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
        assert (last.action, last.actor) == ("request.refused", "wang")
        assert last.details["message"].startswith("the differencing store's population")
