"""`sluice catalog synthesize` as a user runs it: files written, audited, bad input refused."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from catalog import get_dataset, twin
from tests.conftest import World, run_cli

pytestmark = pytest.mark.slow  # the CLI runs in its own process


def test_synthesize_writes_the_twin_and_records_it(world: World, tmp_path: Path) -> None:
    home, out = world.domain.home.root, tmp_path / "twin"
    args = ("catalog", "synthesize", "enterprise_utilities", "--rows", "250", "--seed", "6")
    shown = json.loads(run_cli(*args, "--out", str(out), "--json", home=home, check=True).stdout)
    assert shown["rows"] == 250 and len(shown["files"]) == 3
    with world.domain.transaction() as session:
        expected = twin(get_dataset(session, "enterprise_utilities").schema(), 250, 6)
    assert (out / "enterprise_utilities.parquet").read_bytes() == expected.parquet
    assert len(pd.read_parquet(out / "enterprise_utilities.parquet")) == 250
    dictionary = json.loads((out / "enterprise_utilities.dictionary.json").read_text())
    assert dictionary == expected.dictionary
    with sqlite3.connect(home / "sluice.db") as db:
        last = db.execute("SELECT action, subject FROM audit_entries ORDER BY seq DESC").fetchone()
    assert last == ("catalog.twin_synthesized", "dataset:enterprise_utilities")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("no_such", "--out", "x"), "no dataset named 'no_such'"),
        (("enterprise_utilities", "--rows", "0", "--out", "x"), "--rows"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    world: World, tmp_path: Path, args: tuple[str, ...], words: str
) -> None:
    result = run_cli("catalog", "synthesize", *args, home=world.domain.home.root)
    assert result.returncode != 0 and words in result.stderr
    assert not (Path.cwd() / "x").exists()
