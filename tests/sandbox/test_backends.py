"""What every backend must do alike: results, failures, per-license limits, the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from audit_log import AuditEntry
from core.errors import InvalidInput, NotFound
from jobs.license_limits import limits_for, set_license_limits
from jobs.runner import run
from jobs.submit import submit_sql
from sandbox import Handle, SandboxRun, resolve_backend
from sandbox.limits import Limits
from tests.conftest import AUTHORITY, World, run_cli
from tests.fakes import FakeRunner
from tests.sandbox.conftest import BACKENDS, log_of, run_job


def test_sql_job_gives_the_same_answer(runner, utilities_file: Path, tmp_path: Path) -> None:
    sql = (
        "SELECT district, COUNT(*) AS n, SUM(water_fee) AS total "
        "FROM enterprise_utilities GROUP BY district ORDER BY district"
    )
    data = {"enterprise_utilities": utilities_file}
    result = run_job(runner, tmp_path, {"kind": "sql", "sql": sql}, data)
    assert result.ok, log_of(result)
    got = pd.read_parquet(tmp_path / "out" / "result.parquet").set_index("district")
    frame = pd.read_parquet(utilities_file)
    want = frame.groupby("district")["water_fee"].agg(["count", "sum"])
    assert got["n"].to_dict() == want["count"].to_dict()
    assert got["total"].to_dict() == pytest.approx(want["sum"].to_dict())


def test_query_error_is_named(runner, utilities_file: Path, tmp_path: Path) -> None:
    spec = {"kind": "sql", "sql": "SELECT nope FROM enterprise_utilities"}
    result = run_job(runner, tmp_path, spec, {"enterprise_utilities": utilities_file})
    assert result.exit_code == 3 and result.failure is not None
    assert result.failure.startswith("error: sluice-runtime: query failed: Binder Error")


@pytest.mark.docker
def test_auto_prefers_docker_when_it_answers(runners) -> None:
    runners["docker"]  # present, or skipped/failed by require_component
    assert resolve_backend("auto") == "docker"
    assert resolve_backend("bubblewrap") == "bubblewrap"


# --- limits per license ----------------------------------------------------------

QUERY = "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district"


def _submit(world: World, settings) -> int:
    with world.domain.transaction() as session:
        return submit_sql(session, world.license_id, world.operator, QUERY, settings).id


def test_license_limits_override_the_domain(world: World) -> None:
    defaults = Limits()
    with world.domain.transaction() as session:
        set_license_limits(session, world.license_id, {"memory_mb": 512}, AUTHORITY)
    with world.domain.transaction() as session:
        limits = limits_for(session, world.license_id, defaults)
        assert limits.memory_mb == 512 and limits.cpu_seconds == defaults.cpu_seconds
        actions = session.scalars(select(AuditEntry.action)).all()
        assert "license.limits_set" in actions
        set_license_limits(session, world.license_id, {}, AUTHORITY)
        assert limits_for(session, world.license_id, defaults) == defaults


@pytest.mark.parametrize(
    ("values", "message"),
    [({"memory": 5}, "unknown limit"), ({"memory_mb": 0}, "positive integer")],
)
def test_bad_license_limits_are_refused(world: World, values: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message), world.domain.transaction() as session:
        set_license_limits(session, world.license_id, values, AUTHORITY)


def test_limits_for_an_unknown_license(world: World) -> None:
    with pytest.raises(NotFound), world.domain.transaction() as session:
        set_license_limits(session, 999, {"memory_mb": 512}, AUTHORITY)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_job_over_its_license_limit_fails_naming_it(world: World, backend: str, runners) -> None:
    runners[backend]
    with world.domain.transaction() as session:
        set_license_limits(session, world.license_id, {"output_files": 1}, AUTHORITY)
    settings = dataclasses.replace(world.domain.settings.job_settings(), backend=backend)
    job = run(world.domain.sessions, world.domain.home, _submit(world, settings), settings)
    assert job.status == "failed" and job.failure == "limit:output_files"
    assert list((world.domain.home.jobs / str(job.id) / "out").iterdir()) == []


@pytest.mark.slow
def test_cli_sets_and_shows_license_limits(world: World) -> None:
    home = world.domain.home.root
    license = str(world.license_id)
    result = run_cli(
        "sandbox", "limits", "--license", license, "--memory-mb", "768", "--spill-mb", "4096",
        "--json", home=home,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["own"] == {"memory_mb": 768, "spill_mb": 4096}
    assert shown["effective"]["memory_mb"] == 768 and shown["effective"]["spill_mb"] == 4096
    refused = run_cli("sandbox", "limits", "--license", license, "--processes", "0", home=home)
    assert refused.returncode == 2 and "processes must be a positive integer" in refused.stderr


@pytest.mark.slow
@pytest.mark.sandbox
def test_cli_doctor_names_each_backend(tmp_path: Path) -> None:
    result = run_cli("sandbox", "doctor", "--json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["backends"]) == {"bubblewrap", "docker"}
    for state in report["backends"].values():
        assert state["ok"] or state["reason"]
    assert report["auto"] in ("docker", "bubblewrap")


@pytest.mark.slow
@pytest.mark.docker
def test_cli_build_image_is_a_no_op_once_built(runners, tmp_path: Path) -> None:
    runners["docker"]
    result = run_cli("sandbox", "build-image", "--json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["built"] is False


class BrokenRunner(FakeRunner):
    name = "broken"

    def start(self, run: SandboxRun) -> Handle:
        raise RuntimeError("the engine went away")


def test_a_broken_engine_fails_the_job(world: World) -> None:
    runner = BrokenRunner()
    settings = dataclasses.replace(world.domain.settings.job_settings(), sandbox_runner=runner)
    job = run(world.domain.sessions, world.domain.home, _submit(world, settings), settings)
    assert job.status == "failed"
    assert job.failure == "error: the sandbox could not run the job: the engine went away"
