"""The output gate (出域检查) over one result table: disclosure rules, value scan, suppression.

It reads the companion columns the SQL rewriter adds, decides per cell with the ACRO
rules of policies.disclosure, suppresses failing cells and their complements, and
returns the table without companions plus the findings a reviewer needs.

Companions (every column starting with "__" is stripped before release): `__n`,
distinct privacy units per row; per SUM/AVG column c, `__top1__c` and `__top2__c`
(the two largest absolute per-unit contributions) and `__abs__c` (their absolute
sum); optionally `__sum__c` (signed sum) and `__cnt__c` (non-null rows behind an
AVG), which let the gate detect negative contributions exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from core.errors import InvalidInput, Reason
from policies import disclosure as sdc
from policies.disclosure import DisclosureRules

__all__ = ["CellSpec", "Finding", "GateResult", "check_table", "companion_columns"]

Kind = Literal["group_key", "count", "sum", "avg", "value"]
AGGREGATES = ("count", "sum", "avg")
KINDS = (*AGGREGATES, "group_key", "value")
COMPANION_PREFIX = "__"
N_COLUMN = "__n"
MAX_LISTED_ROWS = 20

# What went wrong and what to do, per rule; both are formatted with the finding's figures.
PROBLEMS = {
    "threshold": "rests on {n} privacy units, fewer than {threshold}",
    "zero": "is a zero count",
    "p_ratio": "fails the p-ratio rule (p = {p}, limit {limit}; undefined p fails)",
    "nk_dominance": "the largest {n_largest} contributors hold {share} of the total, above {k}",
    "negative": "has negative contributions, for which dominance is undefined",
    "secondary": "is suppressed so that row {protects_row} cannot be recovered from a total",
    "too_much_suppressed": "has {suppressed_share:.0%} of aggregate cells suppressed, "
    "above {max_suppressed_share:.0%}",
    "missing_companion": "cannot be checked: companion column(s) {missing} missing or null",
    "value_scan": "holds a value matching a raw identifier ({cells} cell(s), first listed)",
}
SUGGESTIONS = {
    "threshold": "Coarsen the grouping so every cell rests on at least {threshold} units.",
    "zero": "Merge categories: a zero count reveals that no unit has the attribute.",
    "p_ratio": "Merge the group with a neighbour or release counts: one unit dominates it.",
    "nk_dominance": "Merge the group with a neighbour or release counts: few units dominate it.",
    "negative": "Bound the measure at 0 or above, or split gains and losses into two measures.",
    "secondary": "Coarsen the grouping so fewer cells need suppressing.",
    "too_much_suppressed": "Coarsen the grouping: too little of the table would remain.",
    "missing_companion": "Run the query through the policy engine; the gate never guesses.",
    "value_scan": "Drop or generalize the column: outputs may not carry raw identifiers.",
}


@dataclass(frozen=True)
class CellSpec:
    """What one output column holds; aggregates are checked, values pass through."""

    column: str
    kind: Kind


@dataclass
class Finding:
    """One reason the gate acted, naming the cell but never an identifying value."""

    row: int | None
    column: str | None
    rule: str
    figures: dict[str, Any]
    message: str
    suggestion: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GateResult:
    table: pd.DataFrame
    findings: list[Finding]
    blocked: bool
    suppressed_share: float
    cells_checked: int

    def to_dict(self) -> dict[str, Any]:
        """The verdict without the table, for the review record and the audit log."""
        return {
            "blocked": self.blocked,
            "suppressed_share": self.suppressed_share,
            "cells_checked": self.cells_checked,
            "findings": [f.to_dict() for f in self.findings],
        }


def companion_columns(column: str) -> dict[str, str]:
    """Names of the companions the rewriter emits for a SUM/AVG column."""
    return {
        "top1": f"__top1__{column}",
        "top2": f"__top2__{column}",
        "abs": f"__abs__{column}",
        "sum": f"__sum__{column}",  # optional: signed total, exact even if the value is noisy
        "cnt": f"__cnt__{column}",  # optional: non-null rows behind an AVG
    }


def _finding(rule: str, row: int | None, column: str | None, figures: dict) -> Finding:
    where = "table" if column is None else f"column {column!r}"
    where = where if row is None else f"row {row}, {where}"
    message = f"{where} {PROBLEMS[rule].format(**figures)}"
    return Finding(row, column, rule, figures, message, SUGGESTIONS[rule].format(**figures))


def _number(value: float) -> float | int | None:
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return int(value) if float(value).is_integer() else float(value)


def _validate(frame: pd.DataFrame, cells: list[CellSpec]) -> None:
    named = [c.column for c in cells]
    problems = [
        f"column {c.column!r} has unknown kind {c.kind!r}" for c in cells if c.kind not in KINDS
    ]
    problems += [
        f"column {name!r} is described twice" for name in set(named) if named.count(name) > 1
    ]
    problems += [
        f"column {name!r} is described but not in the table"
        for name in named
        if name not in frame.columns
    ]
    problems += [
        f"column {name!r} is in the table but not described"
        for name in frame.columns
        if not str(name).startswith(COMPANION_PREFIX) and name not in named
    ]
    problems += [
        f"aggregate column {c.column!r} is not numeric"
        for c in cells
        if c.kind in AGGREGATES
        and c.column in frame.columns
        and not pd.api.types.is_numeric_dtype(frame[c.column])
    ]
    if problems:
        raise InvalidInput(
            "the cell specification does not match the table: " + "; ".join(problems),
            [Reason(rule="gate_spec", message=p) for p in problems],
        )


def _missing(column: str, missing: Iterable[str]) -> Finding:
    return _finding("missing_companion", None, column, {"missing": sorted(missing)})


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


def _signed_total(frame: pd.DataFrame, spec: CellSpec, value: np.ndarray) -> np.ndarray | None:
    """Sum of signed contributions: __sum__c, else the SUM itself, else AVG x __cnt__c."""
    names = companion_columns(spec.column)

    def read(name: str) -> np.ndarray:
        return frame[name].to_numpy(dtype=np.float64, na_value=np.nan)

    if names["sum"] in frame.columns:
        return read(names["sum"])
    if spec.kind == "sum":  # exact unless noise was added before the gate
        return value
    if names["cnt"] in frame.columns:
        return value * read(names["cnt"])
    return None


def _primary(
    frame: pd.DataFrame,
    spec: CellSpec,
    n: np.ndarray,
    rules: DisclosureRules,
    findings: list[Finding],
) -> np.ndarray | None:
    """Cells of one aggregate column that fail a rule; None when it cannot be checked."""
    column = spec.column
    value = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    fails = {"threshold": sdc.threshold_fails(n, rules)}
    figures: dict[str, Callable[[int], dict]] = {
        "threshold": lambda i: {"n": _number(n[i]), "threshold": rules.threshold},
    }
    if spec.kind == "count":
        fails["zero"] = sdc.zero_fails(value, rules)
        figures["zero"] = lambda i: {"count": 0, "n": _number(n[i])}
    else:
        companions = _companions(frame, column, n)
        if isinstance(companions, set):
            findings.append(_missing(column, companions))
            return None
        top1, top2, absolute = companions
        signed = _signed_total(frame, spec, value)
        # Without a signed total the signs are unknown: dominance is then judged on
        # absolute contributions, the usual SDC treatment of mixed-sign measures.
        negative = np.zeros(len(frame), dtype=bool)
        if signed is not None:
            negative = sdc.has_negative(absolute, signed)
        ratio = sdc.p_ratio(n, top1, top2, absolute)
        share = sdc.nk_share(n, top1, top2, absolute, rules.nk_n)
        fails["negative"] = negative
        fails["p_ratio"] = sdc.p_ratio_fails(n, top1, top2, absolute, rules) & ~negative
        fails["nk_dominance"] = sdc.nk_fails(n, top1, top2, absolute, rules) & ~negative
        figures["negative"] = lambda i: {"n": _number(n[i])}
        figures["p_ratio"] = lambda i: {
            "p": _number(ratio[i]),
            "limit": rules.p_ratio,
            "n": _number(n[i]),
            "zeros_disclosive": rules.zeros_disclosive,
        }
        figures["nk_dominance"] = lambda i: {
            "share": _number(share[i]),
            "k": rules.nk_k,
            "n_largest": rules.nk_n,
        }
    failed = np.zeros(len(frame), dtype=bool)
    for rule, mask in fails.items():
        failed |= mask
        make = figures[rule]
        findings.extend(_finding(rule, i, column, make(i)) for i in np.flatnonzero(mask).tolist())
    return failed


def _line_ids(frame: pd.DataFrame, keys: list[str]) -> list[np.ndarray]:
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


def _secondary(
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


def _scan(
    frame: pd.DataFrame,
    columns: list[str],
    is_identifier: Callable[[object], bool],
    findings: list[Finding],
) -> dict[str, np.ndarray]:
    """Rows whose value matches a raw identifier, per column; the value is never recorded."""
    hits: dict[str, np.ndarray] = {}
    for column in columns:
        codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
        bad = [i for i, value in enumerate(uniques.tolist()) if is_identifier(value)]
        if not bad:
            continue
        hits[column] = np.isin(codes, bad)
        for code in bad:
            rows = np.flatnonzero(codes == code)
            figures = {"cells": int(rows.size), "rows": rows[:MAX_LISTED_ROWS].tolist()}
            findings.append(_finding("value_scan", int(rows[0]), column, figures))
    return hits


def _release(series: pd.Series, kind: str, hidden: np.ndarray, rules: DisclosureRules) -> pd.Series:
    """The column as released: rounded if configured, hidden cells null."""
    if kind in AGGREGATES:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        if rules.rounding_base and kind in ("count", "sum"):
            values = sdc.round_to_base(values, rules.rounding_base)
        out = pd.Series(np.where(hidden, np.nan, values), index=series.index, name=series.name)
        return out.astype("Int64") if pd.api.types.is_integer_dtype(series.dtype) else out
    if not hidden.any():
        return series
    return series.mask(pd.Series(hidden, index=series.index))


def _units(frame: pd.DataFrame) -> np.ndarray | None:
    """The __n companion, or None when it is absent or null anywhere."""
    if N_COLUMN not in frame.columns:
        return None
    n = frame[N_COLUMN].to_numpy(dtype=np.float64, na_value=np.nan)
    return None if np.isnan(n).any() else n


def check_table(
    frame: pd.DataFrame,
    cells: list[CellSpec],
    rules: DisclosureRules,
    is_identifier: Callable[[object], bool] | None = None,
) -> GateResult:
    """Check one candidate table; the caller releases `table` only if not `blocked`."""
    _validate(frame, cells)
    findings: list[Finding] = []
    rows = len(frame)
    aggregates = [c for c in cells if c.kind in AGGREGATES]
    hidden = {c.column: np.zeros(rows, dtype=bool) for c in cells}
    unchecked: list[str] = []
    suppressed_cells = 0

    n = _units(frame)
    if aggregates and n is None:
        findings.extend(_missing(c.column, [N_COLUMN]) for c in aggregates)
        unchecked = [c.column for c in aggregates]
    elif aggregates and n is not None:
        lines = _line_ids(frame, [c.column for c in cells if c.kind == "group_key"])
        for spec in aggregates:
            failed = _primary(frame, spec, n, rules, findings)
            if failed is None:
                unchecked.append(spec.column)
                continue
            value = frame[spec.column].to_numpy(dtype=np.float64, na_value=np.nan)
            for row, protects in _secondary(lines, failed, ~np.isnan(value), n, np.abs(value)):
                figures = {"n": _number(n[row]), "protects_row": protects}
                findings.append(_finding("secondary", row, spec.column, figures))
            hidden[spec.column] = failed
            suppressed_cells += int(failed.sum())
    for column in unchecked:
        hidden[column] = np.ones(rows, dtype=bool)

    if is_identifier is not None:
        scanned = [c.column for c in cells if c.kind not in AGGREGATES]
        for column, mask in _scan(frame, scanned, is_identifier, findings).items():
            hidden[column] = hidden[column] | mask

    cells_checked = rows * len(aggregates)
    share = suppressed_cells / cells_checked if cells_checked else 0.0
    blocked = bool(unchecked) or any(f.rule == "value_scan" for f in findings)
    if share > rules.max_suppressed_share:
        blocked = True
        figures = {"suppressed_share": share, "max_suppressed_share": rules.max_suppressed_share}
        findings.append(_finding("too_much_suppressed", None, None, figures))

    kinds = {c.column: c.kind for c in cells}
    released = {
        c: _release(frame[c], kinds[c], hidden[c], rules) for c in frame.columns if c in kinds
    }
    return GateResult(
        pd.DataFrame(released, index=frame.index), findings, blocked, share, cells_checked
    )
