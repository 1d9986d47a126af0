"""One submission path: the API, the console and the CLI honour the same engine defaults.

Each front end calls `jobs.submit.submit`; a licence or dataset default (here Spark)
must therefore apply whichever way a job arrives. Spark jobs wait for a worker, so
nothing runs here.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from jobs.engines import set_engine_default
from jobs.queries import get_job, list_jobs
from tests.conftest import AUTHORITY, World, run_cli
from tests.console.conftest import login
from tests.console.test_pages import QUERY


@pytest.fixture
def spark_by_default(world: World) -> World:
    with world.domain.transaction() as session:
        set_engine_default(session, "spark", AUTHORITY, dataset="enterprise_utilities")
    return world


def engine_and_spark_sql(world: World, job_id: int) -> tuple[str, bool]:
    with world.domain.transaction() as session:
        job = get_job(session, job_id)
        return job.engine, bool(job.policy.get("spark_sql"))


def test_api_and_console_submissions_take_the_dataset_default(
    spark_by_default: World, client: TestClient, tokens: dict[str, str]
) -> None:
    world = spark_by_default
    headers = {"Authorization": f"Bearer {tokens['li']}"}
    body = {"license_id": world.license_id, "sql": QUERY}
    through_api = client.post("/api/v1/jobs", json=body, headers=headers)
    assert through_api.status_code == 202, through_api.text
    csrf = login(client, tokens["li"])
    form = {"csrf": csrf, "license_id": str(world.license_id), "sql": QUERY}
    through_console = client.post("/console/jobs", data=form)
    assert through_console.status_code == 303
    console_id = int(through_console.headers["location"].rsplit("/", 1)[1])
    seen = {
        "api": engine_and_spark_sql(world, through_api.json()["id"]),
        "console": engine_and_spark_sql(world, console_id),
    }
    assert seen == {"api": ("spark", True), "console": ("spark", True)}


@pytest.mark.slow  # the CLI runs in its own process
def test_the_cli_takes_the_same_default(spark_by_default: World, tmp_path) -> None:
    world = spark_by_default
    query = tmp_path / "q.sql"
    query.write_text(QUERY, encoding="utf-8")
    home = world.domain.settings.domain_home.root
    run_cli("jobs", "submit", "--license", str(world.license_id), "--sql", str(query),
            "--json", home=home, check=True)  # fmt: skip
    with world.domain.transaction() as session:
        newest = list_jobs(session)[-1].id
    assert engine_and_spark_sql(world, newest) == ("spark", True)
