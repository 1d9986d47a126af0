"""Engine defaults per licence and per dataset, set by the data authority through the API
and the CLI, and the job that shows which engine runs it and why."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from audit_log import AuditEntry
from operators.accounts import add_user, create_token, get_user
from tests.conftest import AUTHORITY, World, run_cli


@pytest.fixture
def as_(world: World) -> dict[str, dict[str, str]]:
    with world.domain.transaction() as session:
        add_user(session, "gao", "authority", None, AUTHORITY)
        return {
            n: {"Authorization": f"Bearer {create_token(session, get_user(session, n), AUTHORITY)}"}
            for n in ("gao", "li", "wang")
        }


def _submitted(api: TestClient, who: dict[str, str], license_id: int) -> dict:
    """A job the policy denies: recorded with its engine, but never run (no sandbox)."""
    sql = "SELECT water_fee FROM enterprise_utilities"
    reply = api.post("/api/v1/jobs", headers=who, json={"license_id": license_id, "sql": sql})
    assert reply.status_code in (200, 201, 202), reply.text
    return reply.json()


def test_a_job_records_which_default_chose_its_engine(api: TestClient, as_, world: World) -> None:
    first = _submitted(api, as_["li"], world.license_id)
    assert (first["engine"], first["engine_reason"]) == ("duckdb", "system_default")

    put = api.put(
        "/api/v1/datasets/enterprise_utilities/engine", headers=as_["gao"], json={"engine": "spark"}
    )
    assert put.status_code == 200, put.text
    assert put.json()["dataset"] == "enterprise_utilities" and put.json()["engine"] == "spark"
    second = _submitted(api, as_["li"], world.license_id)
    assert (second["engine"], second["engine_reason"]) == ("spark", "dataset_default")
    assert second["status"] == "denied"

    url = f"/api/v1/licenses/{world.license_id}/engine"
    put = api.put(url, headers=as_["gao"], json={"engine": "duckdb"})
    assert put.status_code == 200 and put.json()["license_id"] == world.license_id
    third = _submitted(api, as_["li"], world.license_id)
    assert (third["engine"], third["engine_reason"]) == ("duckdb", "license_default")
    shown = api.get(f"/api/v1/jobs/{third['id']}", headers=as_["li"]).json()
    assert shown["engine_reason"] == "license_default"

    with world.domain.transaction() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "engine.default_set")
        ).all()
        assert [(e.subject, e.actor) for e in entries] == [
            ("dataset:enterprise_utilities", "gao"),
            (f"license:{world.license_id}", "gao"),
        ]
        submitted = session.scalars(
            select(AuditEntry).where(AuditEntry.subject == f"job:{second['id']}")
        ).first()
        assert submitted is not None and submitted.action == "job.submitted"
        assert submitted.details["engine_reason"] == "dataset_default"


def test_only_the_authority_sets_an_engine_and_a_bad_name_lists_the_choices(
    api: TestClient, as_, world: World
) -> None:
    url = f"/api/v1/licenses/{world.license_id}/engine"
    for who in ("li", "wang"):  # an operator, a reviewer
        assert api.put(url, headers=as_[who], json={"engine": "spark"}).status_code == 403
    bad = api.put(url, headers=as_["gao"], json={"engine": "hive"})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert "duckdb, spark" in bad.json()["detail"]
    missing = api.put(
        "/api/v1/datasets/no_such_data/engine", headers=as_["gao"], json={"engine": "spark"}
    )
    assert missing.status_code == 404 and "enterprise_utilities" in missing.json()["detail"]
    unknown = api.put("/api/v1/licenses/999/engine", headers=as_["gao"], json={"engine": "spark"})
    assert unknown.status_code == 404
    with world.domain.transaction() as session:
        set_ = session.scalars(select(AuditEntry).where(AuditEntry.action == "engine.default_set"))
        assert set_.all() == []  # nothing refused was recorded as set


@pytest.mark.slow  # the CLI in its own processes
def test_the_cli_sets_engine_defaults_and_jobs_show_why(
    tmp_path: Path, world_template: World
) -> None:
    home = tmp_path / "home"
    shutil.copytree(world_template.domain.home.root, home)
    license_id = str(world_template.license_id)
    bad = run_cli("catalog", "set-engine", "enterprise_utilities", "hive", home=home)
    assert bad.returncode != 0 and "duckdb, spark" in bad.stderr + bad.stdout
    done = run_cli("catalog", "set-engine", "enterprise_utilities", "spark", home=home, check=True)
    assert "spark" in done.stdout
    sql = tmp_path / "q.sql"
    sql.write_text("SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district")
    submitted = run_cli("jobs", "submit", "--license", license_id, "--sql", str(sql), home=home)
    assert "engine: spark (a dataset's default)" in submitted.stdout, submitted.stderr
    # Spark jobs wait for a `sluice worker`: nothing runs here
    run_cli("licenses", "set-engine", license_id, "spark", "--json", home=home, check=True)
    job = json.loads(
        run_cli(
            "jobs", "submit", "--license", license_id, "--sql", str(sql), "--json", home=home
        ).stdout
    )
    assert (job["engine"], job["engine_reason"]) == ("spark", "license_default")
    shown = run_cli("jobs", "show", str(job["id"]), home=home, check=True).stdout
    assert "engine: spark (the licence's default)" in shown
    with sqlite3.connect(home / "sluice.db") as db:
        actions = [r[0] for r in db.execute("SELECT action FROM audit_entries")]
    assert actions.count("engine.default_set") == 2


def test_a_job_submitted_through_the_api_may_name_its_engine(api: TestClient, as_, world) -> None:
    """As `jobs submit --engine` does; an unknown engine is refused and nothing recorded."""
    sql = "SELECT water_fee FROM enterprise_utilities"
    body = {"license_id": world.license_id, "sql": sql, "engine": "spark"}
    named = api.post("/api/v1/jobs", headers=as_["li"], json=body)
    assert named.status_code == 202, named.text
    assert (named.json()["engine"], named.json()["engine_reason"]) == ("spark", "requested")
    bad = api.post("/api/v1/jobs", headers=as_["li"], json={**body, "engine": "hive"})
    assert bad.status_code == 422 and "duckdb, spark" in bad.json()["detail"]
    assert bad.headers["content-type"] == "application/problem+json"
    with world.domain.transaction() as session:
        submitted = session.scalars(select(AuditEntry).where(AuditEntry.action == "job.submitted"))
        assert len(submitted.all()) == 1  # the refused one never became a job
