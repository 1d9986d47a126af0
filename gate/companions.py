"""Companion columns: what the SQL rewriter adds beside each aggregate, read into `Cells`.

Every column starting with "__" is a companion and is stripped before release: `__n`,
distinct privacy units per row; per SUM/AVG column c, `__top1__c` and `__top2__c`
(the two largest absolute per-unit contributions) and `__abs__c` (their absolute
sum); optionally `__sum__c` (signed sum) and `__cnt__c` (non-null rows behind an
AVG), which let the gate detect negative contributions exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.cells import CellKind
from gate.disclosure import has_negative
from gate.registry import Cells

__all__ = ["COMPANION_PREFIX", "N_COLUMN", "companion_columns", "read_cells"]

COMPANION_PREFIX = "__"
N_COLUMN = "__n"


def companion_columns(column: str) -> dict[str, str]:
    """Names of the companions the rewriter emits for a SUM/AVG column."""
    return {
        "top1": f"__top1__{column}",
        "top2": f"__top2__{column}",
        "abs": f"__abs__{column}",
        "sum": f"__sum__{column}",  # optional: signed total, exact even if the value is noisy
        "cnt": f"__cnt__{column}",  # optional: non-null rows behind an AVG
    }


def _companions(frame: pd.DataFrame, column: str, n: np.ndarray) -> list[np.ndarray] | set[str]:
    """top1, top2 and abs of a SUM/AVG column, or the names that are absent or null."""
    names = companion_columns(column)
    wanted = [("top1", n >= 1), ("top2", n >= 2), ("abs", n >= 1)]
    absent = {names[k] for k, _ in wanted if names[k] not in frame.columns}
    if absent:
        return absent
    arrays = [frame[names[k]].to_numpy(dtype=np.float64, na_value=np.nan) for k, _ in wanted]
    nulls = {
        names[k] for (k, needed), a in zip(wanted, arrays, strict=True) if np.isnan(a[needed]).any()
    }
    return nulls or arrays


def _signed_total(
    frame: pd.DataFrame, column: str, kind: CellKind, value: np.ndarray
) -> np.ndarray | None:
    """Sum of signed contributions: __sum__c, else the SUM itself, else AVG x __cnt__c."""
    names = companion_columns(column)

    def read(name: str) -> np.ndarray:
        return frame[name].to_numpy(dtype=np.float64, na_value=np.nan)

    if names["sum"] in frame.columns:
        return read(names["sum"])
    if kind is CellKind.SUM:  # exact unless noise was added before the gate
        return value
    if names["cnt"] in frame.columns:
        return value * read(names["cnt"])
    return None


def read_cells(frame: pd.DataFrame, column: str, kind: CellKind, n: np.ndarray) -> Cells | set[str]:
    """One aggregate column as the rules read it, or the companions absent or null."""
    value = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    unknown = np.full(len(frame), np.nan)
    negative = np.zeros(len(frame), dtype=bool)
    if kind is CellKind.COUNT:  # a count has no contributions to weigh
        return Cells(column, kind, n, value, unknown, unknown, unknown, negative)
    companions = _companions(frame, column, n)
    if isinstance(companions, set):
        return companions
    top1, top2, absolute = companions
    signed = _signed_total(frame, column, kind, value)
    # Without a signed total the signs are unknown: dominance is then judged on
    # absolute contributions, the usual SDC treatment of mixed-sign measures.
    if signed is not None:
        negative = has_negative(absolute, signed)
    return Cells(column, kind, n, value, top1, top2, absolute, negative)
