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
        raise InvalidInput(f"{path} does not exist; check the path")
    if (too_large := oversized([path], limits or OutputLimits())) is not None:
        raise LimitExceeded(
            f"{path.name} is over the {too_large.limit} limit "
            f"({too_large.found} > {too_large.allowed})",
            suggestion="check a smaller table",
        )
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    raise InvalidInput(f"{path.name} is neither .csv nor .parquet")


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
        raise InvalidInput(
            f"{path.name} has no __n column (privacy units per row); only tables "
            "with companion columns, as the sandbox writes them, can be checked"
        )
    result = check_table(frame, infer_cells(frame), rules or DisclosureRules())
    return result.to_dict()
