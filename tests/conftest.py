"""Shared fixtures: a real domain (SQLite, Parquet store, keys) in a temporary SLUICE_HOME."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from audit_log import Actor
from catalog import get_dataset, ingest, write_demo_files, write_social_security_files
from catalog.schema import load_schema
from operators.accounts import Principal, add_operator, add_user
from operators.licenses import grant_license
from service.domain import Domain, init_domain, open_domain
from service.settings import Settings
from tests import tiers

AUTHORITY = Actor("test-authority", "authority")
ROWS = 3000
_UNGUARD = pytest.StashKey[Callable[[], None]]()


def require_component(available: bool, what: str) -> None:
    """Outside CI a missing component skips with a reason; under CI=true it fails."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required under CI=true")
    pytest.skip(f"{what} is not available here")


def pytest_configure(config: pytest.Config) -> None:
    # Each test domain has its own home, so its own warm pool, which no later test would
    # use: tests start containers only for the jobs they run (their CLI processes too).
    os.environ.setdefault("SLUICE_SANDBOX_POOL_SIZE", "0")
    config.stash[_UNGUARD] = tiers.install_guard()


def pytest_unconfigure(config: pytest.Config) -> None:
    config.stash.get(_UNGUARD, lambda: None)()


@pytest.hookimpl(tryfirst=True)  # before `-m` selects: marks added here count
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tiers.mark_by_fixtures(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[object]:
    with tiers.running(item):
        return (yield)


@pytest.hookimpl(tryfirst=True)  # before any fixture, module-scoped ones included
def pytest_runtest_setup(item: pytest.Item) -> None:
    if tiers.is_marked(item, "sandbox"):
        problem = tiers.sandbox_problem(item)
        require_component(problem is None, f"a sandbox backend ({problem})")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[object]:
    result = yield
    tiers.fail_if_stray(item)
    return result


@pytest.fixture(autouse=True)
def english_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI speaks the tester's locale: tests read its English unless one chooses."""
    monkeypatch.setenv("SLUICE_LANG", "en")


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Path]]:
    """Synthetic raw files, made once per test session (a few thousand rows)."""
    folder = tmp_path_factory.mktemp("raw")
    enterprises = write_demo_files(folder, ROWS, seed=7)
    frame = pd.read_csv(enterprises[0], dtype={"enterprise_id": str})
    return [enterprises, write_social_security_files(folder, frame, seed=8)]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SLUICE_DATABASE_URL", raising=False)
    return Settings()


@pytest.fixture
def domain(settings: Settings) -> Domain:
    return init_domain(settings)[0]


@dataclass
class World:
    """A domain with data, two companies, reviewers, a regulator and one license."""

    domain: Domain
    license_id: int
    operator: Principal
    outsider: Principal
    reviewers: list[str]
    regulator: str


def build_world(domain: Domain, files: list[tuple[Path, Path]], **license_options: object) -> World:
    for data_file, schema_file in files:
        with domain.transaction() as session:
            ingest(session, domain.home, data_file, load_schema(schema_file), AUTHORITY)
    with domain.transaction() as session:
        add_operator(session, "甬城数据运营有限公司", AUTHORITY)
        add_operator(session, "other-company", AUTHORITY)
        operator = add_user(session, "li", "operator", "甬城数据运营有限公司", AUTHORITY)
        outsider = add_user(session, "mallory", "operator", "other-company", AUTHORITY)
        reviewers = [
            add_user(session, n, "reviewer", None, AUTHORITY).name for n in ("wang", "zhao")
        ]
        add_user(session, "chen", "regulator", None, AUTHORITY)
        names = ["enterprise_utilities", "social_insurance"]
        options: dict[str, object] = {
            "max_level": "L3",
            "purpose": "test scenario",
            "valid_until": date.today() + timedelta(days=30),
            "epsilon": 10.0,
            **license_options,
        }
        license = grant_license(
            session,
            operator="甬城数据运营有限公司",
            schemas={n: get_dataset(session, n).schema() for n in names},
            actor=AUTHORITY,
            **options,  # type: ignore[arg-type]
        )
        return World(
            domain,
            license.id,
            Principal.of(operator),
            Principal.of(outsider),
            reviewers,
            "chen",
        )


@pytest.fixture(scope="session")
def world_template(
    tmp_path_factory: pytest.TempPathFactory, demo_files: list[tuple[Path, Path]]
) -> World:
    """One world built per session; each test's `world` is a copy of its home."""
    home = tmp_path_factory.mktemp("world-template") / "home"
    domain = init_domain(Settings(home=home, database_url=None))[0]
    world = build_world(domain, demo_files)
    domain.engine.dispose()  # SQLite folds its write-ahead log back into the file
    return world


@pytest.fixture
def world(settings: Settings, world_template: World) -> World:
    """A domain of its own, copied from the session's template (building one per test
    would dominate the fast tier). Running its jobs needs a sandbox: tests that do are
    marked `sandbox` (tests.tiers). Only its log's first entry, domain.initialized,
    names another home: the template's."""
    shutil.copytree(world_template.domain.home.root, settings.domain_home.root)
    return replace(world_template, domain=open_domain(settings))


def run_cli(*args: str, home: Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run `sluice ARGS` as a user would, in its own process (so the test is `slow`)."""
    tiers.require_mark("slow", "runs the sluice CLI in its own process (~2 s of imports)")
    env = {**os.environ, "SLUICE_HOME": str(home)}
    env.pop("SLUICE_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"sluice {' '.join(args)} failed: {result.stderr}")
    return result
