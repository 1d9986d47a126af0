"""Secondary suppression (次级隐匿): hide complements so no suppressed cell can be
recovered from a row, column or grand total published beside it."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["line_ids", "secondary"]


def line_ids(frame: pd.DataFrame, keys: list[str]) -> list[np.ndarray]:
    """Lines of the table whose cells may add up to a published total.

    One key: the whole column (its grand total). Several: for each key, the cells
    sharing every other key, i.e. the rows and columns of the pivoted table.
    """
    if len(keys) <= 1:
        return [np.zeros(len(frame), dtype=np.int64)]
    return [
        frame.groupby([k for k in keys if k != key], dropna=False, sort=False)
        .ngroup()
        .to_numpy(dtype=np.int64)
        for key in keys
    ]


def secondary(
    lines: list[np.ndarray],
    suppressed: np.ndarray,
    present: np.ndarray,
    n: np.ndarray,
    magnitude: np.ndarray,
) -> list[tuple[int, int]]:
    """Suppress the smallest other cell (by n, then size) of each line with one suppressed cell.

    Repeats until stable, since a complement may leave another line with one.
    Returns (complement row, protected row) pairs; `suppressed` is updated in place.
    """
    chosen: list[tuple[int, int]] = []
    changed = True
    while changed:
        changed = False
        for line in lines:
            hidden = suppressed & present
            groups = int(line.max()) + 1 if line.size else 0
            lonely = np.bincount(line, weights=hidden, minlength=groups) == 1
            candidates = np.flatnonzero(lonely[line] & present & ~suppressed)
            if candidates.size == 0:
                continue
            candidates = candidates[
                np.lexsort((magnitude[candidates], n[candidates], line[candidates]))
            ]
            picks = candidates[np.unique(line[candidates], return_index=True)[1]]
            protected = np.full(groups, -1, dtype=np.int64)
            rows = np.flatnonzero(hidden & lonely[line])
            protected[line[rows]] = rows
            suppressed[picks] = True
            chosen.extend(zip(picks.tolist(), protected[line[picks]].tolist(), strict=True))
            changed = True
    return chosen
