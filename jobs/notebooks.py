"""Notebook jobs on the host: what a notebook may read, and what its run left behind.

The policy engine cannot rewrite Python, so a notebook never reads the store as
SQL jobs do. It reads a per-job view of each licensed dataset, made on the host:
only the rows the license's row filters allow (made from the same filtered copies
SQL jobs read, `jobs.license_data`) and only its L1 columns (公开, public), with no
identifier and no privacy unit. Everything above L1 comes through the broker
(`jobs.broker`): `query()` and `fit()` run as child jobs through the policy engine,
the gate and the ε ledger, and hand back released results only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy.orm import Session

from catalog import get_dataset
from catalog.schema import ColumnSpec, DatasetSchema
from core.errors import InvalidInput
from core.home import Home
from core.levels import Level, Role
from jobs.records import Job

NOTEBOOK_FILE = "notebook.ipynb"
MAX_NOTEBOOK_BYTES = 5_000_000
LEVEL_CAP = Level.L1  # the highest level a notebook may read, whatever the license says


def clean_notebook(text: str) -> str:
    """The submitted notebook, validated, with any outputs it carried removed."""
    import nbformat

    if len(text.encode("utf-8")) > MAX_NOTEBOOK_BYTES:
        raise InvalidInput.coded("job_notebook_too_large", limit=MAX_NOTEBOOK_BYTES)
    try:
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    except Exception as exc:  # nbformat raises JSON, validation and version errors
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise InvalidInput.coded("job_notebook_invalid", detail=first) from None
    if not any(cell.cell_type == "code" for cell in notebook.cells):
        raise InvalidInput.coded("job_notebook_no_code")
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return str(nbformat.writes(notebook))


def readable_level(license_level: Level) -> Level:
    return license_level if license_level.rank <= LEVEL_CAP.rank else LEVEL_CAP


def visible_columns(schema: DatasetSchema, license_level: Level) -> list[ColumnSpec]:
    """The stored columns a notebook sees: L1, no identifier, not the privacy unit."""
    cap = readable_level(license_level).rank
    return [
        c
        for c in schema.stored_columns
        if c.level.rank <= cap and c.role is not Role.IDENTIFIER and c.name != schema.privacy_unit
    ]


@dataclass(frozen=True)
class NotebookScope:
    """What one notebook job may read: per dataset, the columns of its view."""

    columns: dict[str, list[str]]
    level: Level

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "level": self.level.value, "cap": LEVEL_CAP.value}


def scope_for(session: Session, datasets: list[str], license_level: Level) -> NotebookScope:
    columns: dict[str, list[str]] = {}
    level = Level.L1
    for name in datasets:
        schema = get_dataset(session, name).schema()
        visible = visible_columns(schema, license_level)
        columns[name] = [c.name for c in visible]
        for column in visible:
            level = column.level if column.level.rank > level.rank else level
    return NotebookScope(columns, level)


def _select(schema: DatasetSchema, license_level: Level) -> str:
    parts = []
    for column in visible_columns(schema, license_level):
        name = f'"{column.name}"'
        if column.role is Role.MEASURE and column.bounds is not None:
            lo, hi = column.bounds
            parts.append(f"LEAST(GREATEST({name}, {lo!r}), {hi!r}) AS {name}")
        else:
            parts.append(name)
    return ", ".join(parts) or "NULL AS no_public_column"


def prepare_views(
    session: Session, sources: dict[str, Path], license: Any, folder: Path
) -> dict[str, Path]:
    """Write each dataset's view for this job to `folder`; returns name -> file.

    `sources` are the files the license may read (filtered where it filters rows).
    """
    folder.mkdir(parents=True, exist_ok=True)
    license_level = Level(license.max_level)
    views: dict[str, Path] = {}
    con = duckdb.connect(":memory:")
    try:
        for name, source in sources.items():
            schema = get_dataset(session, name).schema()
            target = folder / f"{name}.parquet"
            columns = _select(schema, license_level)
            query = f"SELECT {columns} FROM read_parquet({_quoted(source)})"
            con.execute(f"COPY ({query}) TO {_quoted(target)} (FORMAT parquet)")
            views[name] = target
    finally:
        con.close()
    return views


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


@dataclass(frozen=True)
class NotebookOutputs:
    """What a notebook left in /out: custom files, all of them (the runtime's manifest
    is not read: nothing the notebook's process wrote can make a file a table)."""

    custom: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"tables": {}, "custom": self.custom}


def read_outputs(review_dir: Path, outputs: list[Path]) -> NotebookOutputs:
    """Every file that left /out is a custom output."""
    return NotebookOutputs(sorted(p.name for p in outputs))


def executed_notebook(home: Home, job: Job) -> Path:
    """Where reviewers find the executed notebook (inside the domain, never released)."""
    return home.jobs / str(job.id) / "review" / "notebook.ipynb"
