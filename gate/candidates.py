"""Candidate outputs of a job: which files are gate-ready tables and which are custom.

A *table* is the SQL runtime's result (its cells are known from the policy decision)
or, from a SQL job, a Parquet/CSV file carrying the `__n` companion (its cells are
read from the companions); a *model* is the `model.json` of a DP training job (a
notebook's `fit()`). Everything else a job leaves in /out, and every file a notebook
writes, is *custom*: held back unless two reviewers approve an exception with a
written justification. Custom files are still
scanned for raw identifiers where their contents can be read, and a hit blocks.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from gate.findings import Finding, make_finding
from gate.subject import GateSubject
from gate.table_file import infer_cells
from gate.tables import CellSpec
from gate.value_scan import Combination, scan_combinations, scan_identifiers

__all__ = ["MODEL_FILE", "Candidate", "classify", "custom_findings", "read_candidate"]

SQL_RESULT = "result.parquet"
MODEL_FILE = "model.json"  # a DP model's record (gate.model_artifact), the one name it has
SIDECAR = ".meta.json"
TABLE_SUFFIXES = (".parquet", ".csv")
CUSTOM_FOLDER = "custom"
# Text larger than this is not tokenised for the scan; it stays held back regardless.
MAX_SCANNED_BYTES = 20 * 1024 * 1024
# Every ordering of a file's columns is tried; wider free-form files are held regardless.
MAX_COMBINATION_COLUMNS = 8
_TOKEN_SPLIT = re.compile(r"[\s,;|\t\"'<>()\[\]{}:=]+")


@dataclass(frozen=True)
class Candidate:
    """One file from /out, with what the gate makes of it."""

    path: Path
    kind: Literal["table", "custom", "model"]
    cells: tuple[CellSpec, ...] = ()
    from_policy: bool = False  # the SQL result: noise from the policy decision applies

    @property
    def released_name(self) -> str:
        """The name the file has among the job's outputs and inside a release package."""
        if self.kind == "table":
            return self.path.stem + ".csv"
        if self.kind == "model":
            return MODEL_FILE
        return f"{CUSTOM_FOLDER}/{self.path.name}"


def read_candidate(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)


def _companion_table(path: Path) -> tuple[CellSpec, ...] | None:
    """Cells of a file that carries companions, or None when it is not such a table."""
    if path.suffix not in TABLE_SUFFIXES:
        return None
    try:
        frame = read_candidate(path)
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError):
        return None
    if "__n" not in frame.columns:
        return None
    return tuple(infer_cells(frame))


def _may_be_table(job: GateSubject, path: Path) -> bool:
    """A notebook's file is never a table: its companions (`__n`, table notes) would be
    computed in the process the operator controls, so they prove nothing. What a
    notebook needs gated it gets through the broker, as child SQL jobs."""
    return job.kind != "notebook"


def classify(job: GateSubject, paths: Sequence[Path]) -> tuple[list[Candidate], list[str]]:
    """Tables and custom files among `paths`; sidecar metadata of tables is left out."""
    found: list[Candidate] = []
    for path in sorted(paths, key=lambda p: p.name):
        if job.kind == "sql" and path.name == SQL_RESULT:
            specs = job.policy.get("cells", [])
            cells = tuple(CellSpec.from_dict(c) for c in specs)
            found.append(Candidate(path, "table", cells, from_policy=True))
            continue
        if job.kind == "model" and path.name == MODEL_FILE:
            found.append(Candidate(path, "model"))
            continue
        inferred = _companion_table(path) if _may_be_table(job, path) else None
        found.append(Candidate(path, "table", inferred) if inferred else Candidate(path, "custom"))
    stems = {c.path.stem for c in found if c.kind == "table"}
    ignored = [
        c.path.name
        for c in found
        if c.kind == "custom"
        and c.path.name.endswith(SIDECAR)
        and c.path.name.removesuffix(SIDECAR) in stems
    ]
    return [c for c in found if c.path.name not in ignored], ignored


def _tokens(data: bytes) -> pd.DataFrame | None:
    """The distinct words of a text file, as one column, or None for binary data."""
    if len(data) > MAX_SCANNED_BYTES:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    words = sorted({w for w in _TOKEN_SPLIT.split(text) if w})
    return pd.DataFrame({"token": pd.Series(words, dtype=object)})


def _readable(path: Path, data: bytes) -> pd.DataFrame | None:
    if path.suffix in TABLE_SUFFIXES:
        try:
            frame = read_candidate(path)
            return frame.astype(object) if path.suffix == ".parquet" else frame
        except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError):
            pass
    return _tokens(data)


def custom_findings(
    candidate: Candidate,
    is_identifier: Callable[[object], bool] | None,
    combinations: Sequence[Combination],
) -> tuple[list[Finding], dict[str, object]]:
    """The held-back finding for a custom file, plus any scan hits; and its description."""
    data = candidate.path.read_bytes()
    media = mimetypes.guess_type(candidate.path.name)[0] or "application/octet-stream"
    frame = _readable(candidate.path, data)
    figures = {"bytes": len(data), "media": media}
    findings = [make_finding("custom_output", None, None, figures)]
    if frame is not None:
        columns = [str(c) for c in frame.columns]
        frame.columns = pd.Index(columns)
        if is_identifier is not None:
            findings += scan_identifiers(frame, columns, is_identifier)[0]
        if len(columns) <= MAX_COMBINATION_COLUMNS:
            findings += scan_combinations(frame, columns, combinations)[0]
    described = {
        "bytes": len(data),
        "media": media,
        "sha256": hashlib.sha256(data).hexdigest(),
        "scanned": frame is not None,
    }
    return findings, described
