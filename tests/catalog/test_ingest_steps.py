# ruff: noqa: F811  (pytest fixtures imported from test_ingest, used as arguments)
"""Ingest's steps for a caller that follows them (the console): rows read per batch for a
progress bar, staging with no database, and registration that leaves nothing behind
when it is refused."""

from __future__ import annotations

import importlib
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog.ingest import check_ingest_target, ingest, register_staged, stage_source
from catalog.records import Dataset
from catalog.schema import DatasetSchema, load_schema
from catalog.synthetic import write_demo_files
from core.errors import Conflict
from core.home import Home
from tests.catalog.test_ingest import ACTOR

ROWS = 2500


@pytest.fixture
def demo(tmp_path: Path) -> tuple[Path, DatasetSchema]:
    csv, schema_path = write_demo_files(tmp_path / "raw", ROWS, seed=3)
    return csv, load_schema(schema_path)


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module("catalog.ingest")  # the package's `ingest` shadows it
    monkeypatch.setattr(module, "BATCH_ROWS", 1000)


@pytest.mark.usefixtures("small_batches")
@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_rows_read_are_reported_after_every_batch(
    session: Session, home: Home, demo: tuple[Path, DatasetSchema], kind: str
) -> None:
    csv, schema = demo
    source = csv
    if kind == "parquet":
        source = csv.with_suffix(".parquet")
        pd.read_csv(csv, dtype=str).to_parquet(source)
    heard: list[tuple[int, int]] = []
    dataset = ingest(session, home, source, schema, ACTOR, rows_read=lambda *p: heard.append(p))
    assert heard == [(1000, ROWS), (2000, ROWS), (ROWS, ROWS)]
    assert dataset.row_count == ROWS


def test_a_csv_value_over_several_lines_never_shows_more_than_all_done(
    session: Session, home: Home, demo: tuple[Path, DatasetSchema]
) -> None:
    """The expected count is the file's lines: a quoted value spanning two lines makes it
    one too many, so the bar ends just short of full and never past it."""
    csv, schema = demo
    frame = pd.read_csv(csv, dtype=str)
    frame.loc[0, "street"] = "江口\n街道"
    frame.to_csv(csv, index=False)
    heard: list[tuple[int, int]] = []
    ingest(session, home, csv, schema, ACTOR, rows_read=lambda *p: heard.append(p))
    assert heard == [(ROWS, ROWS + 1)]


def test_staging_needs_no_database_and_registering_publishes(
    session: Session, home: Home, demo: tuple[Path, DatasetSchema]
) -> None:
    csv, schema = demo
    staged = stage_source(home, csv, schema)
    assert staged.rows == ROWS and staged.folder.name.startswith(".ingest-")
    assert not (home.store / schema.dataset).exists()  # nothing under the dataset's name yet
    dataset = register_staged(session, home, staged, schema, ACTOR)
    session.commit()
    assert (home.store / schema.dataset / "data.parquet").is_file()
    assert not staged.folder.exists() and dataset.version == 1


def test_a_refused_registration_removes_what_was_staged(
    session: Session, home: Home, demo: tuple[Path, DatasetSchema]
) -> None:
    csv, schema = demo
    ingest(session, home, csv, schema, ACTOR)
    session.commit()
    with pytest.raises(Conflict):
        check_ingest_target(session, home, schema.dataset, new_version=False)
    staged = stage_source(home, csv, schema)  # e.g. another ingest registered it meanwhile
    with pytest.raises(Conflict):
        register_staged(session, home, staged, schema, ACTOR)
    session.rollback()
    assert not staged.folder.exists()
    assert sorted(p.name for p in home.store.iterdir()) == [schema.dataset]
    assert session.scalar(select(func.count()).select_from(Dataset)) == 1
