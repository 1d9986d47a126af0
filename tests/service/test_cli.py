"""The `sluice` CLI as a user runs it: the contract's commands, and bad input refused cleanly."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli

pytestmark = pytest.mark.slow  # every test here runs the CLI in its own processes

UNTIL = (date.today() + timedelta(days=30)).isoformat()


def sluice_json(home: Path, *args: str) -> object:
    return json.loads(run_cli(*args, "--json", home=home, check=True).stdout)


def audit_actions(home: Path) -> list[str]:
    with sqlite3.connect(home / "sluice.db") as db:
        return [row[0] for row in db.execute("SELECT action FROM audit_entries ORDER BY seq")]


def state(home: Path) -> dict[str, object]:
    """What a refused command must leave unchanged, read straight from the database."""
    with sqlite3.connect(home / "sluice.db") as db:
        tables = ("datasets", "jobs", "licenses", "budget_charges", "releases")
        counts = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
        licenses = db.execute("SELECT id, status, epsilon_spent FROM licenses").fetchall()
    return {
        **counts,
        "licenses": licenses,
        "store": sorted(p.name for p in (home / "store").iterdir()),
    }


@pytest.fixture(scope="module")
def prepared_home(tmp_path_factory: pytest.TempPathFactory, demo_files) -> Path:
    """A home set up through the CLI once; each test gets its own copy."""
    home = tmp_path_factory.mktemp("cli") / "home"
    sluice_json(home, "init")
    (data, schema), _ = demo_files
    sluice_json(home, "catalog", "ingest", str(data), "--schema", str(schema))
    sluice_json(home, "operators", "add", "acme")
    sluice_json(home, "users", "add", "ann", "--role", "operator", "--operator", "acme")
    sluice_json(home, "users", "add", "rev1", "--role", "reviewer")
    sluice_json(home, "users", "add", "rev2", "--role", "reviewer")
    grant = sluice_json(
        home,
        "licenses",
        "grant",
        "--operator",
        "acme",
        "--dataset",
        "enterprise_utilities",
        "--max-level",
        "L3",
        "--purpose",
        "testing",
        "--until",
        UNTIL,
    )
    assert grant["id"] == 1
    return home


@pytest.fixture
def cli_home(prepared_home: Path, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(prepared_home, home)
    return home


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_licence_is_granted_with_a_delta_budget(cli_home: Path) -> None:
    grant = sluice_json(
        cli_home, "licenses", "grant", "--operator", "acme", "--dataset", "enterprise_utilities",
        "--max-level", "L3", "--purpose", "testing", "--until", UNTIL, "--delta", "3e-6",
    )  # fmt: skip
    assert isinstance(grant, dict)
    assert (grant["delta_total"], grant["delta_spent"]) == (3e-6, 0)
    listed = run_cli("licenses", "list", home=cli_home, check=True)
    assert "δ total" in listed.stdout and "3e-06" in listed.stdout.replace("0.000003", "3e-06")


def test_init_is_idempotent(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert sluice_json(home, "init")["created"] is True
    assert sluice_json(home, "init")["created"] is False
    assert (home / "keys" / "domain-ed25519.pem").stat().st_mode & 0o777 == 0o600
    assert (home / "keys" / "pseudonym.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.sandbox
def test_the_whole_contract_through_the_cli(cli_home: Path, tmp_path: Path) -> None:
    home = cli_home
    assert [d["name"] for d in sluice_json(home, "catalog", "list")] == ["enterprise_utilities"]
    shown = sluice_json(home, "catalog", "show", "enterprise_utilities")
    assert {c["name"]: c["stored"] for c in shown["columns"]}["legal_person"] is False
    assert sluice_json(home, "tokens", "create", "ann")["token"].startswith("slc_")
    sql = write(
        tmp_path,
        "q.sql",
        "SELECT district, AVG(water_fee) AS f FROM enterprise_utilities GROUP BY district",
    )
    check = sluice_json(home, "policy", "check", "--license", "1", "--sql", str(sql))
    assert check["decision"] == "rewrite" and "__n" in check["sql"]
    job = sluice_json(home, "jobs", "submit", "--license", "1", "--sql", str(sql), "--wait")
    assert job["status"] == "awaiting_review" and job["outputs"] == ["result.csv"]
    sluice_json(home, "review", "approve", str(job["id"]), "--reviewer", "rev1")
    shown = sluice_json(home, "review", "approve", str(job["id"]), "--reviewer", "rev2")
    assert shown["status"] == "released" and shown["released"] == ["result.csv"]
    assert sluice_json(home, "jobs", "show", str(job["id"]))["status"] == "released"
    assert len(sluice_json(home, "jobs", "list")) == 1
    assert sluice_json(home, "licenses", "list")[0]["epsilon_spent"] == 1.0
    product = sluice_json(home, "products", "add", "--release", "1", "--name", "水费指数")
    assert sluice_json(home, "products", "show", str(product["id"]))["name"] == "水费指数"
    assert len(sluice_json(home, "products", "list")) == 1
    assert sluice_json(home, "audit", "verify")["ok"] is True
    exported = sluice_json(home, "audit", "export", "--output", str(tmp_path / "a.jsonl"))
    assert exported["entries"] == len(audit_actions(home))
    sluice_json(home, "audit", "pubkey", "--output", str(tmp_path / "k.pem"))
    assert (tmp_path / "k.pem").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")


def test_policy_check_states_epsilon_and_error_per_noisy_column(
    cli_home: Path, tmp_path: Path
) -> None:
    sql = write(
        tmp_path,
        "q.sql",
        "SELECT district, AVG(water_fee) AS f, SUM(gas_fee) AS g FROM enterprise_utilities "
        "GROUP BY district",
    )
    args = ("policy", "check", "--license", "1", "--sql", str(sql))
    shown = run_cli(*args, home=cli_home, check=True).stdout
    assert "f (avg): ε=0.5, ±" in shown and "/ rows in the group" in shown
    assert "g (sum): ε=0.5, ±" in shown and "in steps of 10,000" in shown
    noise = sluice_json(cli_home, *args)["noise"]
    # an average is centred on its bounds' middle, so its granularity is a tenth of the sum's
    assert [(n["column"], n["granularity"]) for n in noise] == [("f", 1_000), ("g", 10_000)]
    assert all(n["ci95"] > 0 for n in noise)


@pytest.mark.sandbox
def test_submit_without_wait_runs_in_the_background(cli_home: Path, tmp_path: Path) -> None:
    import time

    sql = write(
        tmp_path, "q.sql", "SELECT district, COUNT(*) n FROM enterprise_utilities GROUP BY 1"
    )
    job = sluice_json(cli_home, "jobs", "submit", "--license", "1", "--sql", str(sql))
    assert job["status"] == "queued"
    for _ in range(200):
        status = sluice_json(cli_home, "jobs", "show", str(job["id"]))["status"]
        if status not in ("queued", "running"):
            break
        time.sleep(0.1)
    assert status == "awaiting_review"


def test_denied_query_prints_reasons(cli_home: Path, tmp_path: Path) -> None:
    sql = write(tmp_path, "q.sql", "SELECT phone FROM enterprise_utilities")
    job = sluice_json(cli_home, "jobs", "submit", "--license", "1", "--sql", str(sql))
    assert job["status"] == "denied"
    assert job["reasons"][0]["column"] == "phone"


def _schema_without_level(tmp_path: Path, schema: Path) -> Path:
    doc = yaml.safe_load(schema.read_text(encoding="utf-8"))
    del doc["columns"][4]["level"]
    return write(tmp_path, "bad.yaml", yaml.safe_dump(doc, allow_unicode=True))


def _renamed_schema(tmp_path: Path, schema: Path) -> Path:
    doc = yaml.safe_load(schema.read_text(encoding="utf-8"))
    doc["dataset"] = "enterprise_utilities_v2"
    return write(tmp_path, "renamed.yaml", yaml.safe_dump(doc, allow_unicode=True))


def _csv_with_extra_column(tmp_path: Path, data: Path) -> Path:
    lines = data.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",extra"] + [line + ",1" for line in lines[1:]]
    return write(tmp_path, "extra.csv", "\n".join(lines) + "\n")


def _expired_license(home: Path) -> list[str]:
    with sqlite3.connect(home / "sluice.db") as db:
        yesterday = (date.today() - timedelta(days=1)).isoformat()
        db.execute("UPDATE licenses SET valid_until = ? WHERE id = 1", (yesterday,))
    return ["jobs", "submit", "--license", "1", "--sql", "{sql}"]


BAD_INPUT = {
    "schema missing a level": (
        lambda home, tmp, data, schema: [
            "catalog",
            "ingest",
            str(data),
            "--schema",
            str(_schema_without_level(tmp, schema)),
        ],
        "has no level",
    ),
    "file columns differ": (
        lambda home, tmp, data, schema: [
            "catalog",
            "ingest",
            str(_csv_with_extra_column(tmp, data)),
            "--schema",
            str(_renamed_schema(tmp, schema)),
        ],
        "extra",
    ),
    "second ingest of the same name": (
        lambda home, tmp, data, schema: ["catalog", "ingest", str(data), "--schema", str(schema)],
        "already registered",
    ),
    "unknown dataset": (
        lambda home, tmp, data, schema: [
            "licenses",
            "grant",
            "--operator",
            "acme",
            "--dataset",
            "nope",
            "--max-level",
            "L2",
            "--purpose",
            "p",
            "--until",
            UNTIL,
        ],
        "nope",
    ),
    "revoked license": (
        lambda home, tmp, data, schema: (
            run_cli("licenses", "revoke", "1", home=home, check=True)
            and ["jobs", "submit", "--license", "1", "--sql", "{sql}"]
        ),
        "revoked",
    ),
    "expired license": (lambda home, tmp, data, schema: _expired_license(home), "expired"),
    "malformed SQL": (
        lambda home, tmp, data, schema: [
            "jobs",
            "submit",
            "--license",
            "1",
            "--sql",
            str(write(tmp, "bad.sql", "SELEC district FRM x")),
        ],
        "SQL",
    ),
    "unknown job": (lambda home, tmp, data, schema: ["jobs", "show", "999"], "no job"),
    "deep nesting": (
        lambda home, tmp, data, schema: [
            "policy",
            "check",
            "--license",
            "1",
            "--sql",
            str(write(tmp, "deep.sql", "SELECT " + "(" * 3000 + "1" + ")" * 3000 + " AS x")),
        ],
        "query too complex",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_is_refused_cleanly(
    case: str, cli_home: Path, tmp_path: Path, demo_files
) -> None:
    build, expected = BAD_INPUT[case]
    (data, schema), _ = demo_files
    sql = write(
        tmp_path, "ok.sql", "SELECT district, COUNT(*) FROM enterprise_utilities GROUP BY 1"
    )
    args = [a.replace("{sql}", str(sql)) for a in build(cli_home, tmp_path, data, schema)]
    before = state(cli_home)
    result = run_cli(*args, home=cli_home)
    assert result.returncode != 0
    # progress lines may precede it; the reason is one line starting "sluice: "
    reasons = [line for line in result.stderr.splitlines() if line.startswith("sluice: ")]
    assert len(reasons) == 1 and expected in result.stderr
    assert "Traceback" not in result.stderr
    assert state(cli_home) == before
    assert audit_actions(cli_home)[-1] == "request.refused"


def test_commands_before_init_say_what_to_do(tmp_path: Path) -> None:
    result = run_cli("catalog", "list", home=tmp_path / "none")
    assert result.returncode != 0 and "sluice init" in result.stderr


def test_outputs_check_reports_and_blocks(tmp_path: Path) -> None:
    import pandas as pd

    counts = [40, 3, 25, 31, 50]
    table = pd.DataFrame({"district": list("abcde"), "n": counts, "__n": counts})
    table.to_csv(tmp_path / "t.csv", index=False)
    result = sluice_json(tmp_path / "home", "outputs", "check", str(tmp_path / "t.csv"))
    rules = {(f["row"], f["rule"]) for f in result["findings"]}
    assert (1, "threshold") in rules and (2, "secondary") in rules and not result["blocked"]
    table.head(3).to_csv(tmp_path / "small.csv", index=False)
    small = sluice_json(tmp_path / "home", "outputs", "check", str(tmp_path / "small.csv"))
    assert small["blocked"]  # two of three cells suppressed: more than half
    pd.DataFrame({"district": ["a"], "n": [3]}).to_csv(tmp_path / "bare.csv", index=False)
    bare = run_cli("outputs", "check", str(tmp_path / "bare.csv"), home=tmp_path / "home")
    assert bare.returncode != 0 and "__n" in bare.stderr


def test_serve_answers_health_checks(cli_home: Path) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "SLUICE_HOME": str(cli_home)}
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert json.loads(r.read()) == {"status": "ok"}
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("the server never answered /healthz")
    finally:
        server.terminate()
        server.wait(timeout=10)
