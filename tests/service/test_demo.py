"""`sluice demo`, the main job, end to end on a smaller dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from products.package import verify_package
from tests.conftest import run_cli

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


def test_demo_shows_denial_rewrite_and_release(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    result = run_cli("demo", "--rows", "5000", "--json", home=home, check=True)
    summary = json.loads(result.stdout)
    jobs = summary["jobs"]
    assert jobs["allowed"]["decision"] == "allow"
    assert (
        jobs["rewritten"]["decision"] == "rewrite" and "__n" in jobs["rewritten"]["rewritten_sql"]
    )
    assert jobs["denied"]["decision"] == "deny"
    assert {r["column"] for r in jobs["denied"]["reasons"]} == {
        "enterprise_id",
        "phone",
        "water_fee",
    }
    assert {r["status"] for r in summary["results"].values()} == {"released"}
    assert summary["product"]["provenance"]["package_sha256"]
    assert summary["audit"]["live"]["ok"] and summary["audit"]["export"]["ok"]
    interface = summary["interface"]
    assert "no consent" in interface["without_consent"]
    assert set(interface["with_consent"]) == {"grade"}
    assert not list(home.rglob("*.csv.raw")) and not (home / "incoming").exists()
    from core.home import Home

    package = next((home / "releases").glob("*.zip"))
    assert verify_package(package, Home(home).public_key()).ok


def test_demo_prints_a_readable_summary_and_reruns(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    run_cli("demo", "--rows", "3000", home=home, check=True)
    text = run_cli("demo", "--rows", "3000", home=home, check=True).stdout
    for phrase in ("decision: DENY", "decision: REWRITE", "rewritten SQL", "released", "product 1"):
        assert phrase in text


def test_demo_refuses_a_home_it_did_not_create(tmp_path: Path) -> None:
    home = tmp_path / "real"
    run_cli("init", home=home, check=True)
    result = run_cli("demo", "--rows", "3000", home=home)
    assert result.returncode != 0 and "did not create" in result.stderr
    assert (home / "sluice.db").exists()
