"""Ingest in the console: a real upload goes through catalog.ingest in the background,
the page's progress reaches 100 % and the catalog shows the dataset with its rows; a
bad schema or a bad file keeps the form, registers nothing and is audited; only the
authority and the administrator reach the page. Runs live in the database: a second
server process shows the same progress and result, and a run whose process died is
shown as interrupted, not as running forever."""

from __future__ import annotations

import importlib
import os
import re
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from audit_log.records import AuditEntry
from catalog import get_dataset, list_datasets
from catalog.ingest_runs import IngestRunRecord, begin_ingest_run
from core.db import utcnow
from core.runs import STALE_SECONDS, RunState
from operators.accounts import add_operator
from service.web.ingest_runs import INGEST_ACTION
from tests.conftest import AUTHORITY, World
from tests.console.conftest import login

PAGE = "/console/admin/ingest"
ROWS = 3000  # tests.conftest.ROWS: the demo file's rows


@pytest.fixture
def enterprises(demo_files: list[tuple[Path, Path]]) -> tuple[bytes, str]:
    """The demo enterprise file and its schema, renamed to a dataset not yet registered."""
    data, schema = demo_files[0]
    text = schema.read_text("utf-8").replace(
        "dataset: enterprise_utilities", "dataset: enterprise_copy"
    )
    return data.read_bytes(), text


def _upload(
    client: TestClient, csrf: str, data: bytes, schema: str | None, target: str = "", **more: str
) -> Any:
    files: dict[str, Any] = {"data": ("企业缴费.csv", data, "text/csv")}
    if schema is not None:
        files["schema"] = ("schema.yaml", schema.encode(), "application/yaml")
    return client.post(PAGE, data={"csrf": csrf, "target": target, **more}, files=files)


def _follow(client: TestClient, location: str) -> dict[str, Any]:
    """Poll the run's progress as the page's script does, until it ends (bounded)."""
    seen: list[int] = []
    for _ in range(3000):
        run: dict[str, Any] = client.get(f"{location}/progress").json()
        seen.append(run["percent"])
        if run["state"] != "running":
            assert seen == sorted(seen)  # the bar never moves back
            return run
        threading.Event().wait(0.1)
    raise AssertionError(f"the ingest did not end: {seen[-5:]}")


def _refusals(world: World, actor: str) -> list[AuditEntry]:
    with world.domain.transaction() as session:
        found = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "request.refused", AuditEntry.actor == actor
            )
        )
        return [e for e in found if e.subject == INGEST_ACTION]


def _store_and_catalog(world: World) -> tuple[list[str], list[tuple[str, int]]]:
    """What an ingest changes: the store's folders and the registered datasets."""
    store = sorted(p.name for p in world.domain.home.store.iterdir())
    with world.domain.transaction() as session:
        return store, [(d.name, d.version) for d in list_datasets(session)]


def _no_upload_left(world: World) -> bool:
    uploads = world.domain.home.root / "uploads"
    return not uploads.exists() or not any(uploads.iterdir())


def test_an_authority_ingests_a_file_and_follows_it_to_the_catalog(
    client: TestClient, tokens: dict[str, str], world: World, enterprises: tuple[bytes, str]
) -> None:
    csrf = login(client, tokens["gao"])
    form = client.get(PAGE)
    assert form.status_code == 200 and 'id="ingest-form"' in form.text
    assert 'enctype="multipart/form-data"' in form.text and "数据归集" in form.text
    started = _upload(client, csrf, *enterprises)
    assert started.status_code == 303
    location = started.headers["location"]
    assert re.fullmatch(rf"{PAGE}/[0-9a-f]+", location)
    run = _follow(client, location)
    assert (run["state"], run["percent"]) == ("done", 100), run
    assert run["done"] == run["total"] == ROWS and run["version"] == 1
    page = client.get(location).text
    assert 'id="ingest-done"' in page and 'data-state="done"' in page
    assert 'href="/console/catalog#dataset-enterprise_copy"' in page
    catalog = client.get("/console/catalog").text
    assert 'id="dataset-enterprise_copy"' in catalog and "3,000" in catalog
    with world.domain.transaction() as session:
        dataset = get_dataset(session, "enterprise_copy")
        assert (dataset.row_count, dataset.version) == (ROWS, 1)
        logged = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "dataset.ingested")
        ).all()
    assert logged[-1].actor == "gao" and logged[-1].details["source"] == "企业缴费.csv"
    assert _no_upload_left(world)  # the raw upload does not stay behind


def test_a_registered_dataset_takes_a_new_version_with_its_own_schema(
    client: TestClient, tokens: dict[str, str], world: World, demo_files: list[tuple[Path, Path]]
) -> None:
    csrf = login(client, tokens["gao"])
    data = demo_files[0][0].read_bytes()
    started = _upload(client, csrf, data, None, target="enterprise_utilities")
    assert started.status_code == 303
    run = _follow(client, started.headers["location"])
    assert (run["state"], run["version"], run["new_version"]) == ("done", 2, True)
    with world.domain.transaction() as session:
        dataset = get_dataset(session, "enterprise_utilities")
        assert (dataset.version, dataset.row_count) == (2, ROWS)


def test_a_bad_file_keeps_the_form_changes_nothing_and_is_audited(
    client: TestClient, tokens: dict[str, str], world: World, enterprises: tuple[bytes, str]
) -> None:
    csrf = login(client, tokens["gao"])
    data, schema = enterprises
    lines = data.decode("utf-8").splitlines()
    cells = lines[5].split(",")
    cells[8] = "三十万"  # capital: not a number, on line 6 of the file
    bad = "\n".join([*lines[:5], ",".join(cells), *lines[6:]]).encode()
    before = _store_and_catalog(world)
    started = _upload(client, csrf, bad, schema)
    assert started.status_code == 303
    run = _follow(client, started.headers["location"])
    assert run["state"] == "failed" and "capital" in run["problem"]
    assert "line 6" in run["problem"] and run["catalog"] is None
    page = client.get(started.headers["location"]).text
    assert 'id="problem"' in page and "三十万" in page
    assert 'id="ingest-form"' in page and "dataset: enterprise_copy" in page  # schema kept
    assert _store_and_catalog(world) == before
    assert _no_upload_left(world)
    refused = _refusals(world, "gao")
    assert len(refused) == 1 and refused[0].details["error"] == "schema_invalid"


def test_a_bad_schema_is_refused_at_once_with_the_form_kept(
    client: TestClient, tokens: dict[str, str], world: World, enterprises: tuple[bytes, str]
) -> None:
    csrf = login(client, tokens["gao"])
    data, schema = enterprises
    unlevelled = schema.replace("    level: L1\n", "", 1)  # district's level left out
    assert unlevelled != schema
    before = _store_and_catalog(world)
    for text, said in ((unlevelled, "没有分级"), ("columns: [unclosed", "不是有效的 YAML")):
        refused = _upload(client, csrf, data, None, schema_text=text)
        assert refused.status_code == 422 and 'id="problem"' in refused.text
        assert said in refused.text and 'id="ingest-form"' in refused.text
        assert "unclosed" in refused.text or "enterprise_copy" in refused.text  # kept
    wrong_type = client.post(
        PAGE,
        data={"csrf": csrf, "target": ""},
        files={"data": ("notes.txt", b"a,b\n1,2\n"), "schema": ("s.yaml", schema.encode())},
    )
    assert wrong_type.status_code == 422 and ".parquet" in wrong_type.text
    assert "notes.txt</span>：入库仅支持 .csv（UTF-8）和 .parquet 文件" in wrong_type.text
    assert (
        "请选择 .csv 或 .parquet 文件" in wrong_type.text and "ingest reads" not in wrong_type.text
    )
    other = _upload(client, csrf, data, schema, target="social_insurance")
    assert other.status_code == 422 and "enterprise_copy" in other.text
    assert _store_and_catalog(world) == before and _no_upload_left(world)
    assert len(_refusals(world, "gao")) == 4


def test_an_upload_over_the_request_cap_is_refused(
    tokens: dict[str, str], world: World, enterprises: tuple[bytes, str]
) -> None:
    from service.api import create_app

    small = world.domain.settings.model_copy(update={"max_request_bytes": 100_000})
    client = TestClient(create_app(small), follow_redirects=False)
    csrf = login(client, tokens["gao"])
    before = _store_and_catalog(world)
    assert len(enterprises[0]) > 100_000
    assert _upload(client, csrf, *enterprises).status_code == 413
    assert _store_and_catalog(world) == before and _no_upload_left(world)
    with world.domain.transaction() as session:
        refused = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "request.refused")
        ).all()
    assert [(e.actor, e.subject) for e in refused] == [("gao", INGEST_ACTION)]
    assert "larger than 100000 bytes" in refused[0].details["message"]


def test_only_the_authority_and_admin_reach_ingest(
    client: TestClient, tokens: dict[str, str], world: World, enterprises: tuple[bytes, str]
) -> None:
    csrf = login(client, tokens["gao"])
    location = _upload(client, csrf, *enterprises).headers["location"]
    _follow(client, location)
    assert client.get(f"{PAGE}/0000").status_code == 404
    for name in ("li", "wang", "chen"):  # operator, reviewer, regulator
        other = TestClient(client.app, follow_redirects=False)
        their_csrf = login(other, tokens[name])
        assert other.get(PAGE).status_code == 403
        assert other.get(location).status_code == 403
        assert other.get(f"{location}/progress").status_code == 403
        data = enterprises[0]
        assert _upload(other, their_csrf, data, enterprises[1]).status_code == 403
        assert 'id="nav-ingest"' not in other.get("/console/catalog").text
    anonymous = TestClient(client.app, follow_redirects=False)
    assert anonymous.get(PAGE).status_code == 303  # to the login page


def test_the_console_stays_usable_while_a_file_is_read(
    client: TestClient,
    tokens: dict[str, str],
    world: World,
    enterprises: tuple[bytes, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The run is held after its first batch: meanwhile its progress answers, other people
    log in and a change commits at once (on SQLite an open write transaction would make
    them wait for the whole file, then fail with `database is locked`)."""
    ingest_module = importlib.import_module("catalog.ingest")  # the package shadows it
    monkeypatch.setattr(ingest_module, "BATCH_ROWS", 1000)
    first_batch, resume = threading.Event(), threading.Event()
    real_stage = ingest_module.stage_source

    def held(*args: Any) -> Any:
        *before, rows_read = args

        def heard(done: int, total: int) -> None:
            rows_read(done, total)
            first_batch.set()
            assert resume.wait(120), "the test never let the run go on"

        return real_stage(*before, heard)

    monkeypatch.setattr(ingest_module, "stage_source", held)
    csrf = login(client, tokens["gao"])
    location = _upload(client, csrf, *enterprises).headers["location"]
    try:
        assert first_batch.wait(120), "the run did not read its first batch"
        running = client.get(f"{location}/progress").json()
        assert (running["state"], running["done"], running["total"]) == ("running", 1000, ROWS)
        assert running["percent"] == 33
        again = _upload(client, csrf, *enterprises)  # the same dataset, while it runs
        assert again.status_code == 409 and "正在入库" in again.text  # the console's zh-CN
        login(TestClient(client.app, follow_redirects=False), tokens["wang"])
        with world.domain.transaction() as session:
            add_operator(session, "四明数科", AUTHORITY)
    finally:
        resume.set()
    assert _follow(client, location)["state"] == "done"


def _second_server(world: World) -> TestClient:
    """Another app over the same home: its own Domain, engine and memory."""
    from service.api import create_app

    return TestClient(create_app(world.domain.settings), follow_redirects=False)


def _dead_run(world: World, dataset: str, silent: float) -> str:
    """A run some process started and then stopped reporting on `silent` seconds ago."""
    with world.domain.transaction() as session:
        run = begin_ingest_run(session, "deadbeef00000001", "gao", dataset, "old.csv", False)
        run.rows_done, run.rows_total = 100, ROWS
        run.beat_at = utcnow() - timedelta(seconds=silent)
        return run.id


def test_a_second_server_follows_the_same_run_to_its_result(
    client: TestClient, tokens: dict[str, str], world: World, enterprises: tuple[bytes, str]
) -> None:
    data, schema = enterprises
    csrf = login(client, tokens["gao"])
    started = _upload(client, csrf, data, schema)
    assert started.status_code == 303
    location = started.headers["location"]
    other = _second_server(world)
    login(other, tokens["gao"])
    ended = _follow(other, location)  # followed only on the other server
    assert ended["state"] == "done" and ended["version"] == 1
    assert ended["done"] == ended["total"] == ROWS and ended["started_by"] == "gao"
    assert client.get(f"{location}/progress").json() == ended
    page = other.get(location).text
    assert 'id="ingest-done"' in page and "enterprise_copy" in page
    restarted = _second_server(world)  # a server started after the run ended
    login(restarted, tokens["gao"])
    assert restarted.get(f"{location}/progress").json() == ended


def test_a_run_whose_process_died_is_shown_interrupted(
    client: TestClient, tokens: dict[str, str], world: World, enterprises: tuple[bytes, str]
) -> None:
    run_id = _dead_run(world, "enterprise_copy", silent=STALE_SECONDS + 5)
    login(client, tokens["gao"])
    shown = client.get(f"{PAGE}/{run_id}/progress").json()
    assert shown["state"] == "failed" and shown["interrupted"] is True
    assert shown["code"] == "ingest_interrupted" and shown["done"] == 100
    page = client.get(f"{PAGE}/{run_id}").text
    assert 'id="problem"' in page and "中断" in page  # the form is back, with why
    with world.domain.transaction() as session:  # the record itself is left as it was
        assert session.get(IngestRunRecord, run_id).state == RunState.RUNNING


def test_a_dead_run_does_not_block_the_dataset_but_a_live_one_does(
    client: TestClient, tokens: dict[str, str], world: World, enterprises: tuple[bytes, str]
) -> None:
    data, schema = enterprises
    csrf = login(client, tokens["gao"])
    _dead_run(world, "enterprise_copy", silent=STALE_SECONDS + 5)
    uploads = world.domain.home.root / "uploads"
    left = uploads / ".ingest-dead" / "raw.csv"  # the dead run's upload, raw data
    left.parent.mkdir(parents=True)
    left.write_text("enterprise_id\n91330200MA2XXXXX00\n", "utf-8")
    gone = time.time() - STALE_SECONDS - 5
    os.utime(left.parent, (gone, gone))
    started = _upload(client, csrf, data, schema)
    assert started.status_code == 303
    assert not left.parent.exists()  # swept by the next ingest
    assert _follow(client, started.headers["location"])["state"] == "done"

    with world.domain.transaction() as session:  # another process is ingesting it now
        live = begin_ingest_run(session, "feedface00000002", "li", "social_live", "a.csv", False)
        assert live.state == RunState.RUNNING
    refused = _upload(client, csrf, data, schema.replace("enterprise_copy", "social_live"))
    assert refused.status_code == 409 and 'id="problem"' in refused.text
