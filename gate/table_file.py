"""Checking a table file against the disclosure rules (`sluice outputs check FILE`).

Cell kinds are read from the companion columns: a column with `__top1__<c>`
beside it is a SUM/AVG cell, other numeric columns are counts, the rest are keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from core.cells import CellKind
from core.errors import InvalidInput, LimitExceeded
from gate.disclosure import DisclosureRules
from gate.output_limits import OutputLimits, oversized
from gate.tables import CellSpec, check_table


def read_table(path: Path, limits: OutputLimits | None = None) -> pd.DataFrame:
    """The table, once its size (from the Parquet footer or the CSV's bytes and lines)
    is within `limits`: a small file that decompresses to gigabytes is never read."""
    if not path.exists():
        raise InvalidInput.coded("gate_table_missing", path=str(path))
    if (too_large := oversized([path], limits or OutputLimits())) is not None:
        raise LimitExceeded.coded(
            "gate_table_too_large",
            file=path.name,
            limit=too_large.limit,
            found=too_large.found,
            allowed=too_large.allowed,
        )
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    raise InvalidInput.coded("gate_table_kind", file=path.name)


def infer_cells(frame: pd.DataFrame) -> list[CellSpec]:
    cells = []
    for column in frame.columns:
        if column.startswith("__"):
            continue
        if f"__top1__{column}" in frame:
            cells.append(CellSpec(column, CellKind.SUM))
        elif pd.api.types.is_numeric_dtype(frame[column]) and "__n" in frame:
            cells.append(CellSpec(column, CellKind.COUNT))
        else:
            cells.append(CellSpec(column, CellKind.GROUP_KEY))
    return cells


def check_file(path: Path, rules: DisclosureRules | None = None) -> dict[str, Any]:
    frame = read_table(path)
    if "__n" not in frame:
        raise InvalidInput.coded("gate_table_no_companions", file=path.name)
    result = check_table(frame, infer_cells(frame), rules or DisclosureRules())
    return result.to_dict()
