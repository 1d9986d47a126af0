"""Fixtures for running real jobs on each sandbox backend.

`backend` is parametrized over bubblewrap and docker; a backend this host lacks
skips, except under CI=true, where it fails (tests.conftest.require_component).
The docker runtime image is built once per machine if missing (content-hash tag).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sandbox import Limits, Runner, SandboxResult, SandboxRun, execute
from tests.conftest import require_component

BACKENDS = ["bubblewrap", "docker"]


def bubblewrap_runner() -> Runner:
    from sandbox.bubblewrap import BubblewrapRunner, unavailable_reason

    reason = unavailable_reason()
    require_component(reason is None, f"bubblewrap ({reason})")
    return BubblewrapRunner(allow_probes=True)


def docker_runner(pool_dir: Path | None, **options: Any) -> Runner:
    """A docker runner with the runtime image built; `pool_dir` None puts its pool in
    the `home` option's own folder (as a domain's runner does)."""
    from sandbox.docker_backend import DockerRunner, _engine_problem

    _engine_problem.cache_clear()
    problem = _engine_problem()
    require_component(problem is None, f"a Docker engine ({problem})")
    import docker

    from sandbox.image import ensure_image

    tag, _ = ensure_image(docker.from_env(timeout=600), log=lambda _line: None)
    return DockerRunner(allow_probes=True, image=tag, pool_dir=pool_dir, **options)


@pytest.fixture(scope="session")
def runners(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Runner]:
    """One runner per backend, made on first use."""
    return _Runners(tmp_path_factory)  # type: ignore[return-value]


class _Runners(dict):  # type: ignore[type-arg]
    def __init__(self, factory: pytest.TempPathFactory) -> None:
        super().__init__()
        self.factory = factory

    def __missing__(self, name: str) -> Runner:
        runner = (
            bubblewrap_runner()
            if name == "bubblewrap"
            else docker_runner(self.factory.mktemp("pool"))
        )
        self[name] = runner
        return runner


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def runner(backend: str, runners: dict[str, Runner]) -> Runner:
    return runners[backend]


@pytest.fixture(scope="session")
def utilities_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = pd.DataFrame(
        {
            "enterprise_id": [f"e{i % 400:04d}" for i in range(2000)],
            "district": ["镇海区", "北仑区", "海曙区", "江北区"] * 500,
            "industry": ["制造", "批发", "软件", "餐饮", "物流"] * 400,
            "water_fee": [float((i * 7919) % 1000) for i in range(2000)],
        }
    )
    path = tmp_path_factory.mktemp("store") / "enterprise_utilities.parquet"
    frame.to_parquet(path)
    return path


def run_job(
    runner: Runner,
    work: Path,
    spec: dict[str, Any],
    data: dict[str, Path] | None = None,
    files: dict[str, bytes] | None = None,
    **limits: int,
) -> SandboxResult:
    run = SandboxRun("test-job", work, data or {}, spec, Limits(**limits), files or {})
    return execute(runner, run)


def probe(runner: Runner, work: Path, code: str, **limits: int) -> SandboxResult:
    return run_job(runner, work, {"kind": "probe", "code": textwrap.dedent(code)}, **limits)


def log_of(result: SandboxResult) -> str:
    return result.log_path.read_text("utf-8", "replace")
