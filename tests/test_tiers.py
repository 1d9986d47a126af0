"""The test tiers agree with each other: pyproject registers each marker, `make test-fast`
leaves each one out, and an unmarked test cannot start a real sandbox."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from sandbox import BubblewrapRunner, SandboxRun
from tests import tiers

ROOT = Path(__file__).parents[1]


def test_every_tier_is_a_registered_marker() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    lines = config["tool"]["pytest"]["ini_options"]["markers"]
    assert [line.split(":")[0] for line in lines] == list(tiers.TIERS)
    marks = {m for ms in [*tiers.FIXTURE_MARKS.values(), *tiers.PARAM_MARKS.values()] for m in ms}
    assert marks <= set(tiers.TIERS)


def test_the_fast_target_leaves_out_every_tier() -> None:
    found = re.search(r"^FAST := not \((.*)\)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found is not None
    assert found.group(1).split(" or ") == list(tiers.TIERS)


def test_an_unmarked_test_cannot_start_a_sandbox(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    run = SandboxRun("stray", tmp_path / "work", {}, {"kind": "probe", "code": "pass"})
    with pytest.raises(pytest.fail.Exception, match="not marked `sandbox`"):
        BubblewrapRunner().start(run)
    assert not (tmp_path / "work").exists()  # refused before the backend did anything
    tiers.forgive(request.node)  # this test caught the failure on purpose
