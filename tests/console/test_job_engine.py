"""The console's job page says which engine runs the job and which rule chose it."""

from __future__ import annotations

from jobs.engines import set_engine_default
from jobs.settings import JobSettings
from jobs.submit import submit
from tests.conftest import AUTHORITY, World
from tests.console.conftest import login


def test_the_job_page_names_the_engine_and_why(client, tokens, world: World) -> None:
    with world.domain.transaction() as session:
        set_engine_default(session, "spark", AUTHORITY, license_id=world.license_id)
        sql = "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district"
        job_id = submit(session, world.license_id, world.operator, JobSettings(), sql=sql).id
    login(client, tokens["li"])
    assert "<code>spark</code> · 授权的默认引擎" in client.get(f"/console/jobs/{job_id}").text
    client.get("/lang/en")
    page = client.get(f"/console/jobs/{job_id}").text
    assert "<code>spark</code> · the licence&#39;s default" in page
