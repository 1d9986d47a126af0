"""Test tiers: which tests need which component, and guards that keep the marks honest.

A test that needs a component carries its marker (pyproject.toml lists them);
tests using a fixture that brings one are marked from FIXTURE_MARKS, so only the
rest need an explicit mark. `make test-fast` leaves out every tier in TIERS and
runs on a host with none of the components. While tests run, an unmarked test
that starts a real sandbox, or spawns the `sluice` CLI without being `slow`,
fails at once, so a missing mark shows up here and not on a machine without
bubblewrap or Docker, or as a fast tier that has quietly grown slow.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox.bubblewrap import BubblewrapRunner
from sandbox.docker_backend import DockerRunner, _engine_problem
from sandbox.runner import available_backends

TIERS = ("sandbox", "docker", "postgres", "spark", "browser", "slow")

# A fixture -> the markers of every test that uses it (directly or through another fixture).
FIXTURE_MARKS: dict[str, tuple[str, ...]] = {
    "runner": ("sandbox",),  # tests/sandbox: a real backend (per `backend` parameter)
    "runners": ("sandbox",),
    "corpus_world": ("sandbox", "slow"),  # hundreds of queries through bubblewrap
    "spark_world": ("spark", "sandbox", "slow"),
    "spark_cluster": ("spark", "slow"),  # JVMs: a master, two workers, their executors
    "spark_connect": ("spark", "slow"),
    "pg_server": ("postgres",),
    "browser_factory": ("browser",),
}
# A parameter value -> the markers of the tests it parametrizes.
PARAM_MARKS: dict[tuple[str, str], tuple[str, ...]] = {
    ("backend", "docker"): ("docker",),
    ("escape_results", "docker"): ("docker",),
    ("engine", "spark"): ("spark", "slow"),  # tests/jobs/test_dp_neighbours.py
}
SANDBOX_RUNNERS: tuple[type[Any], ...] = (BubblewrapRunner, DockerRunner)

_running: list[pytest.Item] = []  # the test being set up, called or torn down
_strays: dict[str, str] = {}  # unmarked test -> the backend it started (from any thread)


def mark_by_fixtures(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        marks = [m for name, ms in FIXTURE_MARKS.items() if name in used for m in ms]
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        marks += [m for (k, v), ms in PARAM_MARKS.items() if params.get(k) == v for m in ms]
        for mark in dict.fromkeys(marks):
            if item.get_closest_marker(mark) is None:
                item.add_marker(mark)


def sandbox_problem(item: pytest.Item) -> str | None:
    """None if a test marked `sandbox` can run here, else why not.

    `@pytest.mark.sandbox("bubblewrap")` needs that backend; a bare mark needs any
    that a domain's `auto` would take.
    """
    mark = item.get_closest_marker("sandbox")
    named = list(mark.args) if mark is not None else []
    found = _backend_problems(bool(named))
    wanted = {name: found[name] for name in named or found}
    if any(reason is None for reason in wanted.values()):
        return None
    return "; ".join(f"{name}: {reason}" for name, reason in wanted.items())


@functools.cache
def _backend_problems(named: bool) -> dict[str, str | None]:
    problems = dict(available_backends())
    if named:  # a test naming docker makes its own runner, building the image if missing
        problems["docker"] = _engine_problem()
    return problems


def is_marked(item: pytest.Item, marker: str) -> bool:
    return item.get_closest_marker(marker) is not None


def install_guard() -> Callable[[], None]:
    """Wrap each real backend's `start`; returns the function that unwraps them."""
    originals = {cls: cls.start for cls in SANDBOX_RUNNERS}
    for cls, start in originals.items():
        cls.start = _guarded(start)

    def uninstall() -> None:
        for cls, start in originals.items():
            cls.start = start

    return uninstall


def _guarded(start: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(start)
    def checked(self: Any, run: Any) -> Any:
        item = _running[-1] if _running else None
        if item is not None and not is_marked(item, "sandbox"):
            _strays[item.nodeid] = self.name
            pytest.fail(stray_message(item.nodeid, self.name), pytrace=False)
        return start(self, run)

    return checked


def require_mark(marker: str, what: str) -> None:
    """Fail the running test unless it carries `marker`: it does `what`, which that tier
    is for (e.g. spawning the CLI, seconds of imports per call, is `slow`)."""
    item = _running[-1] if _running else None
    if item is not None and not is_marked(item, marker):
        pytest.fail(f"{item.nodeid} {what} but is not marked `{marker}`", pytrace=False)


def stray_message(nodeid: str, backend: str) -> str:
    return (
        f"{nodeid} started a real sandbox ({backend}) but is not marked `sandbox`: "
        "mark it (pytestmark or @pytest.mark.sandbox), or use tests.fakes.FakeRunner"
    )


@contextlib.contextmanager
def running(item: pytest.Item) -> Iterator[None]:
    """While `item` is set up, called and torn down, the guard judges sandboxes by its marks."""
    _running.append(item)
    try:
        yield
    finally:
        _running.pop()


def forgive(item: pytest.Item) -> None:
    """For a test of the guard itself, which catches the failure on purpose."""
    _strays.pop(item.nodeid, None)


def fail_if_stray(item: pytest.Item) -> None:
    """A sandbox started from another thread (a server, a background task) may have had
    its failure swallowed there; fail the test itself."""
    if item.nodeid in _strays:
        pytest.fail(stray_message(item.nodeid, _strays[item.nodeid]), pytrace=False)
