"""The regulator follows the record: every job readable (not its data), links from the
timeline to what each entry is about, and failed logins on the record."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from audit_log.records import AuditEntry
from tests.conftest import World
from tests.console.conftest import login
from tests.products.conftest import L1_QUERY, decide, ran


@pytest.mark.sandbox
def test_regulators_read_every_job_but_not_its_released_data(client, tokens, world: World) -> None:
    job_id = ran(world, L1_QUERY)
    decide(world, job_id, "wang")
    api = {"Authorization": f"Bearer {tokens['chen']}"}
    assert client.get(f"/api/v1/jobs/{job_id}", headers=api).json()["id"] == job_id
    assert job_id in [j["id"] for j in client.get("/api/v1/jobs", headers=api).json()["items"]]
    assert client.get(f"/api/v1/jobs/{job_id}/package", headers=api).status_code == 403
    login(client, tokens["chen"])
    page = client.get(f"/console/jobs/{job_id}")
    assert page.status_code == 200 and 'id="download"' not in page.text
    assert 'id="result-0"' not in page.text  # no preview of the released table
    assert client.get(f"/console/jobs/{job_id}/results/0.csv").status_code == 403
    timeline = client.get("/console/audit", params={"subject": f"job:{job_id}"}).text
    assert f'href="/console/jobs/{job_id}" class="subject"' in timeline


def test_a_failed_login_is_on_the_record_without_the_token(client, world: World) -> None:
    guess = "not-a-real-token-but-a-guess-0123456789abc"
    response = client.post("/login", data={"token": guess})
    assert response.status_code == 401
    with world.domain.transaction() as session:
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
        assert last is not None
        assert (last.action, last.subject, last.actor) == (
            "request.refused",
            "POST /login",
            "anonymous",
        )
        assert guess not in str(last.details)


def _full_check_done(client) -> dict:  # type: ignore[no-untyped-def]
    for _ in range(600):  # a bound on waiting, not an assertion on speed
        status = client.get("/console/audit/verify").json()
        if status["state"] == "done":
            return dict(status)
        time.sleep(0.1)
    raise AssertionError("the full verification never finished")


@pytest.mark.sandbox
def test_the_badge_is_cheap_and_the_full_check_runs_on_demand(client, tokens, world) -> None:
    job_id = ran(world, L1_QUERY)
    decide(world, job_id, "wang")  # a release signs a head
    csrf = login(client, tokens["chen"])
    page = client.get("/console/audit").text
    assert 'class="badge ok" id="verify-badge"' in page and 'id="verify-now"' in page
    assert client.post("/console/audit/verify", data={"csrf": csrf}).status_code == 303
    done = _full_check_done(client)
    assert done["ok"] is True and done["checked"] == done["total"] > 0
    assert 'id="full-result"' in client.get("/console/audit").text

    with world.domain.transaction() as session:  # an insider edits one entry in place
        first = session.get(AuditEntry, 2)
        first.details = {**first.details, "edited": True}
    page = client.get("/console/audit").text  # the page load reads nothing of the log
    assert 'class="badge ok" id="verify-badge"' in page
    client.post("/console/audit/verify", data={"csrf": csrf})
    done = _full_check_done(client)
    assert done["ok"] is False and done["problem"]
    assert "✘" in client.get("/console/audit").text
