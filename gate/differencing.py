"""The differencing check (差分攻击检查): two outputs that together reveal a small group.

Releasing `COUNT(*) GROUP BY district` and then the same query with one narrow filter
changed publishes two totals whose difference rests on the few units the filter
moved. Each output passes the threshold rule alone; their difference does not.

How it is detected, exactly. Every gated table keeps, inside the domain, one row per
group: its key, its `__n` (distinct privacy units, exact: noise never touches it) and
whether any of its aggregate cells was released. A group's key is the sorted list of
its normalised group-key values (joined by a unit separator), so renaming or
reordering the key columns does not hide a match; a table without group keys has
the empty key (its grand total).
A new table differences an earlier one when, for some key present and released in
both, 0 < |n_new - n_earlier| < threshold. The later output is blocked; the earlier
one has left or is already with the reviewers.

What it does not catch: populations that differ by swapping units in and out in
equal numbers (equal n), and differences against tables grouped by other keys
(for example a total beside a breakdown); those remain for the reviewer's judgement.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from catalog.identifiers import normalise
from gate.findings import MAX_LISTED_ROWS, Finding, make_finding, number

__all__ = ["GROUP_COLUMNS", "find_differencing", "group_units"]

GROUP_COLUMNS = ("key", "n", "released", "row")
_NULL = "\x00null"
_SEPARATOR = "\x1f"


def _texts(series: pd.Series) -> np.ndarray:
    """Each value's normalised text, computed once per distinct value."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = np.array([normalise(v) or _NULL for v in uniques.tolist()] + [_NULL], dtype=object)
    return texts[codes]  # the sentinel code -1 picks the trailing null text


def group_units(frame: pd.DataFrame, keys: list[str], released: np.ndarray) -> pd.DataFrame:
    """One row per group of a gated table: order-free key, `__n`, released, row position."""
    n = frame["__n"].to_numpy(dtype=np.float64, na_value=np.nan)
    key = np.full(len(frame), "", dtype=object)  # no group keys: the grand total
    if keys:
        columns = np.stack([_texts(frame[k]) for k in keys], axis=1)
        columns.sort(axis=1)
        key = columns[:, 0]
        for position in range(1, len(keys)):
            key = key + _SEPARATOR + columns[:, position]
    return pd.DataFrame(
        {
            "key": pd.Series(key, dtype=object),
            "n": n,
            "released": np.asarray(released, dtype=bool),
            "row": np.arange(len(frame), dtype=np.int64),
        }
    )


def find_differencing(
    new: pd.DataFrame, earlier: Mapping[str, pd.DataFrame], threshold: int
) -> list[Finding]:
    """One finding per earlier output that the new one differences (see module docstring)."""
    findings: list[Finding] = []
    current = new[new["released"] & new["n"].notna()]
    for label, old in earlier.items():
        previous = old[old["released"] & old["n"].notna()][["key", "n"]]
        matched = current.merge(previous, on="key", suffixes=("", "_earlier"))
        if matched.empty:
            continue
        difference = (matched["n"] - matched["n_earlier"]).abs()
        close = matched[(difference > 0) & (difference < threshold)]
        if close.empty:
            continue
        gaps = difference[close.index]
        rows = close["row"].to_numpy()
        figures = {
            "earlier": label,
            "difference": number(float(gaps.min())),
            "threshold": threshold,
            "groups": int(close.shape[0]),
            "rows": rows[:MAX_LISTED_ROWS].tolist(),
        }
        findings.append(make_finding("differencing", int(rows[0]), None, figures))
    return findings
