"""Notebook jobs on the host: what a notebook may read, and what its run left behind.

The policy engine cannot rewrite Python, so a notebook never reads the store as
SQL jobs do. It reads a per-job view of each licensed dataset, made on the host:
only the rows the license's row filters allow (made from the same filtered copies
SQL jobs read, `jobs.license_data`); only columns at L1 and L2 (and not above the
license's level); measures clamped to their bounds; no identifiers except the
privacy unit, replaced by a token keyed for this job alone (so units can be
counted and joined within the job, never linked to another job or to the store).
L3 values never enter a notebook's sandbox: aggregates over them go through SQL,
where the policy engine adds differential-privacy noise and charges the budget.
"""

from __future__ import annotations

import json
import secrets
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
LEVEL_CAP = Level.L2  # the highest level a notebook may read, whatever the license says


def clean_notebook(text: str) -> str:
    """The submitted notebook, validated, with any outputs it carried removed."""
    import nbformat

    if len(text.encode("utf-8")) > MAX_NOTEBOOK_BYTES:
        raise InvalidInput(f"the notebook is over {MAX_NOTEBOOK_BYTES} bytes; make it smaller")
    try:
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    except Exception as exc:  # nbformat raises JSON, validation and version errors
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"not a valid Jupyter notebook (.ipynb, nbformat 4): {first}") from None
    if not any(cell.cell_type == "code" for cell in notebook.cells):
        raise InvalidInput("the notebook has no code cells; nothing would run")
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return str(nbformat.writes(notebook))


def readable_level(license_level: Level) -> Level:
    return license_level if license_level.rank <= LEVEL_CAP.rank else LEVEL_CAP


def visible_columns(schema: DatasetSchema, license_level: Level) -> list[ColumnSpec]:
    """The stored columns a notebook sees, privacy unit first (as a token)."""
    cap = readable_level(license_level).rank
    shown = [
        c
        for c in schema.stored_columns
        if c.level.rank <= cap and c.role is not Role.IDENTIFIER and c.name != schema.privacy_unit
    ]
    unit = schema.column(schema.privacy_unit)
    return ([unit] if unit is not None and unit.stored else []) + shown


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
        for column in visible[1:]:
            level = column.level if column.level.rank > level.rank else level
    return NotebookScope(columns, level)


def _select(schema: DatasetSchema, license_level: Level, salt: str) -> str:
    parts = []
    for column in visible_columns(schema, license_level):
        name = f'"{column.name}"'
        if column.name == schema.privacy_unit:
            parts.append(f"sha256('{salt}' || CAST({name} AS VARCHAR)) AS {name}")
        elif column.role is Role.MEASURE and column.bounds is not None:
            lo, hi = column.bounds
            parts.append(f"LEAST(GREATEST({name}, {lo!r}), {hi!r}) AS {name}")
        else:
            parts.append(name)
    return ", ".join(parts)


def prepare_views(
    session: Session, sources: dict[str, Path], license: Any, folder: Path
) -> dict[str, Path]:
    """Write each dataset's view for this job to `folder`; returns name -> file.

    `sources` are the files the license may read (filtered where it filters rows).
    """
    folder.mkdir(parents=True, exist_ok=True)
    license_level = Level(license.max_level)
    salt = secrets.token_hex(16)  # kept nowhere: tokens cannot be matched after the job
    views: dict[str, Path] = {}
    con = duckdb.connect(":memory:")
    try:
        for name, source in sources.items():
            schema = get_dataset(session, name).schema()
            target = folder / f"{name}.parquet"
            columns = _select(schema, license_level, salt)
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
    """What a notebook left in /out: helper tables (with their cells) and custom files."""

    tables: dict[str, dict[str, Any]]
    custom: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"tables": self.tables, "custom": self.custom}


def read_outputs(review_dir: Path, outputs: list[Path]) -> NotebookOutputs:
    """The runtime's manifest, trusted only for files that did leave /out; any output it
    does not list as a table is custom."""
    try:
        manifest = json.loads((review_dir / "manifest.json").read_text("utf-8"))
        tables = manifest.get("tables", {}) if isinstance(manifest, dict) else {}
    except (OSError, ValueError):
        tables = {}
    names = {p.name for p in outputs}
    kept = {k: v for k, v in tables.items() if k in names and isinstance(v, dict)}
    return NotebookOutputs(kept, sorted(names - set(kept)))


def executed_notebook(home: Home, job: Job) -> Path:
    """Where reviewers find the executed notebook (inside the domain, never released)."""
    return home.jobs / str(job.id) / "review" / "notebook.ipynb"
