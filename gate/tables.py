"""The output gate (出域检查) over one result table: disclosure rules, value scan, suppression.

It reads the companion columns the SQL rewriter adds (gate.companions), decides per
cell with every rule in the registry (gate.registry; ACRO's are in gate.disclosure),
suppresses failing cells and their complements, and returns the table without
companions plus the findings a reviewer needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from core.cells import AGGREGATES, CellKind
from core.errors import InvalidInput
from gate import disclosure as sdc
from gate.companions import COMPANION_PREFIX, N_COLUMN, companion_columns, read_cells
from gate.disclosure import DisclosureRules
from gate.findings import Finding, make_finding
from gate.reasons import reason
from gate.registry import cell_checks, number
from gate.suppression import line_ids, secondary
from gate.value_scan import Combination, scan_combinations, scan_identifiers

__all__ = [
    "AGGREGATES",
    "N_COLUMN",
    "CellKind",
    "CellSpec",
    "Finding",
    "GateResult",
    "check_table",
    "companion_columns",
]

# Findings listed per (column, rule); the counts stay exact. A table with thousands of
# failing cells is summarised, so the gate's record stays small and the gate fast.
MAX_LISTED = 200


@dataclass(frozen=True)
class CellSpec:
    """What one output column holds; aggregates are checked by the rules.

    When the table carries `__n`, a row resting on fewer units than the threshold is
    removed whole, keys included, unless every key holds a value of its declared public
    code list (`categories`): then only its figures are suppressed.
    """

    column: str
    kind: CellKind
    categories: tuple[str, ...] | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CellSpec:
        """A spec as the policy decision records it (kind as text, categories as a list)."""
        found = raw.get("categories")
        return cls(raw["column"], raw["kind"], tuple(found) if found is not None else None)

    def __post_init__(self) -> None:
        # Specs read back from a job record carry the kind as text; an unknown one is
        # left as it is, for check_table to refuse with the other mismatches.
        try:
            object.__setattr__(self, "kind", CellKind(self.kind))
        except ValueError:
            pass


@dataclass
class GateResult:
    table: pd.DataFrame
    findings: list[Finding]
    blocked: bool
    suppressed_share: float
    cells_checked: int
    counts: dict[str, int] = field(default_factory=dict)
    unlisted: int = 0
    removed_rows: int = 0  # groups below the threshold whose keys are not public

    def to_dict(self) -> dict[str, Any]:
        """The verdict without the table, for the review record and the audit log."""
        return {
            "blocked": self.blocked,
            "removed_rows": self.removed_rows,
            "suppressed_share": self.suppressed_share,
            "cells_checked": self.cells_checked,
            "counts": dict(self.counts),
            "unlisted": self.unlisted,
            "findings": [f.to_dict() for f in self.findings],
        }


class _Report:
    """Findings as they are made: exact counts per rule, at most `limit` listed per column."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.findings: list[Finding] = []
        self.counts: dict[str, int] = {}
        self.unlisted = 0

    def add(self, finding: Finding, cells: int = 1) -> None:
        self.findings.append(finding)
        self.counts[finding.rule] = self.counts.get(finding.rule, 0) + cells

    def rows(
        self, rule: str, column: str, rows: np.ndarray, figures: Callable[[int], dict]
    ) -> None:
        if not rows.size:
            return
        listed = rows if self.limit is None else rows[: self.limit]
        self.findings.extend(make_finding(rule, i, column, figures(i)) for i in listed.tolist())
        self.counts[rule] = self.counts.get(rule, 0) + int(rows.size)
        self.unlisted += int(rows.size - listed.size)


def _validate(frame: pd.DataFrame, cells: list[CellSpec]) -> None:
    named = [c.column for c in cells]
    problems = [
        reason("gate_spec_kind", name=c.column, kind=c.kind)
        for c in cells
        if not isinstance(c.kind, CellKind)
    ]
    problems += [
        reason("gate_spec_twice", name=name) for name in set(named) if named.count(name) > 1
    ]
    problems += [
        reason("gate_spec_absent", name=name) for name in named if name not in frame.columns
    ]
    problems += [
        reason("gate_spec_undescribed", name=name)
        for name in frame.columns
        if not str(name).startswith(COMPANION_PREFIX) and name not in named
    ]
    problems += [
        reason("gate_spec_not_numeric", name=c.column)
        for c in cells
        if c.kind in AGGREGATES
        and c.column in frame.columns
        and not pd.api.types.is_numeric_dtype(frame[c.column])
    ]
    if problems:
        raise InvalidInput(
            "the cell specification does not match the table: "
            + "; ".join(p.message for p in problems),
            problems,
        )


def _missing(column: str, missing: Iterable[str]) -> Finding:
    return make_finding("missing_companion", None, column, {"missing": sorted(missing)})


def _primary(
    frame: pd.DataFrame, spec: CellSpec, n: np.ndarray, rules: DisclosureRules, report: _Report
) -> np.ndarray | None:
    """Cells of one aggregate column that fail a registered rule; None when unchecked."""
    cells = read_cells(frame, spec.column, spec.kind, n)
    if isinstance(cells, set):
        report.add(_missing(spec.column, cells), cells=len(frame))
        return None
    failed = np.zeros(len(frame), dtype=bool)
    for rule, check in cell_checks(spec.kind):
        verdict = check(cells, rules)
        fails = np.asarray(verdict.fails, dtype=bool)
        failed |= fails
        report.rows(rule, spec.column, np.flatnonzero(fails), verdict.figures)
    return failed


def _protecting(n: np.ndarray, protects: dict[int, int]) -> Callable[[int], dict]:
    return lambda i: {"n": number(float(n[i])), "protects_row": protects[i]}


def _small_groups(
    cells: list[CellSpec],
    n: np.ndarray,
    rules: DisclosureRules,
    report: _Report,
    hidden: dict[str, np.ndarray],
) -> int:
    """Hide the value cells of rows on fewer units than the threshold; return how many.

    A value beside the aggregates (MIN of a column, a constant) describes its group
    as much as a count does, so a group too small to count is too small to describe.
    """
    small = sdc.threshold_fails(n, rules)
    rows = np.flatnonzero(small)
    values = [spec.column for spec in cells if spec.kind is CellKind.VALUE]
    for column in values:
        report.rows("threshold", column, rows, _below(n, rules))
        hidden[column] = hidden[column] | small
    return int(rows.size) * len(values)


def _below(n: np.ndarray, rules: DisclosureRules) -> Callable[[int], dict]:
    return lambda i: {"n": number(float(n[i])), "threshold": rules.threshold}


def _release(
    series: pd.Series, kind: CellKind, hidden: np.ndarray, rules: DisclosureRules
) -> pd.Series:
    """The column as released: rounded if configured, hidden cells null."""
    if kind in AGGREGATES:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        if rules.rounding_base and kind in (CellKind.COUNT, CellKind.SUM):
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
    combinations: Sequence[Combination] = (),
    max_listed: int | None = MAX_LISTED,
) -> GateResult:
    """Check one candidate table; the caller releases `table` only if not `blocked`.

    `max_listed` caps the findings listed per column and rule (None lists all);
    `counts` in the result are exact either way. Verdicts do not depend on the order
    the engine returned rows in: the table is checked in a canonical order (by group
    keys) and the result mapped back to the caller's order.
    """
    _validate(frame, cells)
    keys = [c.column for c in cells if c.kind is CellKind.GROUP_KEY and c.column in frame]
    canonical = _canonical_order(frame, keys)
    result = _check(frame.iloc[canonical], cells, rules, is_identifier, combinations, max_listed)
    kept = result.table.index
    result.table = result.table.loc[[i for i in frame.index if i in kept]]
    result.findings = [_in_caller_order(f, canonical) for f in result.findings]
    return result


def _in_caller_order(finding: Finding, canonical: np.ndarray) -> Finding:
    """The same finding, its row numbers (and the message naming them) in the caller's order."""
    if finding.row is None:
        return finding
    figures = dict(finding.figures)
    protected = figures.get("protects_row")
    if isinstance(protected, int) and protected >= 0:
        figures["protects_row"] = int(canonical[protected])
    moved = make_finding(finding.rule, int(canonical[finding.row]), finding.column, figures)
    return replace(moved, file=finding.file)


def _canonical_order(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Row positions sorted by the group keys' text, ties kept in arrival order."""
    if not keys or len(frame) < 2:
        return np.arange(len(frame))
    text = [frame[k].astype("string").fillna("\x00").to_numpy() for k in reversed(keys)]
    return np.lexsort(text)


def _check(
    frame: pd.DataFrame,
    cells: list[CellSpec],
    rules: DisclosureRules,
    is_identifier: Callable[[object], bool] | None,
    combinations: Sequence[Combination],
    max_listed: int | None,
) -> GateResult:
    report = _Report(max_listed)
    rows = len(frame)
    aggregates = [c for c in cells if c.kind in AGGREGATES]
    hidden = {c.column: np.zeros(rows, dtype=bool) for c in cells}
    unchecked: list[str] = []
    suppressed_cells = 0

    n = _units(frame)
    if aggregates and n is None:
        for spec in aggregates:
            report.add(_missing(spec.column, [N_COLUMN]), cells=rows)
        unchecked = [c.column for c in aggregates]
    elif aggregates and n is not None:
        lines = line_ids(frame, [c.column for c in cells if c.kind is CellKind.GROUP_KEY])
        for spec in aggregates:
            failed = _primary(frame, spec, n, rules, report)
            if failed is None:
                unchecked.append(spec.column)
                continue
            value = frame[spec.column].to_numpy(dtype=np.float64, na_value=np.nan)
            pairs = secondary(lines, failed, ~np.isnan(value), n, np.abs(value))
            report.rows(
                "secondary",
                spec.column,
                np.array([row for row, _ in pairs], dtype=np.int64),
                _protecting(n, dict(pairs)),
            )
            hidden[spec.column] = failed
            suppressed_cells += int(failed.sum())
    for column in unchecked:
        hidden[column] = np.ones(rows, dtype=bool)
    values = [c for c in cells if c.kind is CellKind.VALUE]
    if n is not None:
        suppressed_cells += _small_groups(cells, n, rules, report, hidden)

    scanned = [c.column for c in cells if c.kind not in AGGREGATES]
    hits: list[tuple[list[Finding], dict[str, np.ndarray]]] = []
    if is_identifier is not None:
        hits.append(scan_identifiers(frame, scanned, is_identifier))
    if combinations:
        hits.append(scan_combinations(frame, scanned, combinations))
    for found, masks in hits:
        for finding in found:
            report.add(finding, cells=int(finding.figures["cells"]))
        for column, mask in masks.items():
            hidden[column] = hidden[column] | mask

    cells_checked = rows * (len(aggregates) + (len(values) if n is not None else 0))
    share = suppressed_cells / cells_checked if cells_checked else 0.0
    scan_hit = any(r in report.counts for r in ("value_scan", "combination_scan"))
    blocked = bool(unchecked) or scan_hit
    if share > rules.max_suppressed_share:
        blocked = True
        figures = {"suppressed_share": share, "max_suppressed_share": rules.max_suppressed_share}
        report.add(make_finding("too_much_suppressed", None, None, figures))

    kinds = {c.column: c.kind for c in cells}
    released = {
        c: _release(frame[c], kinds[c], hidden[c], rules) for c in frame.columns if c in kinds
    }
    table = pd.DataFrame(released, index=frame.index)
    removed = _identifying_rows(frame, cells, n, rules)
    return GateResult(
        table[~removed],
        report.findings,
        blocked,
        share,
        cells_checked,
        report.counts,
        report.unlisted,
        int(removed.sum()),
    )


def _identifying_rows(
    frame: pd.DataFrame, cells: list[CellSpec], n: np.ndarray | None, rules: DisclosureRules
) -> np.ndarray:
    """Rows below the threshold whose keys are not all from public code lists.

    Such a row's mere presence says that some unit has its key (a key can be any
    expression: `CASE WHEN <one enterprise> THEN 'T' ...`), so it goes whole; a row
    keyed by public categories could be listed for every category anyway.
    """
    if n is None:
        return np.zeros(len(frame), dtype=bool)
    small = sdc.threshold_fails(n, rules)
    public = np.ones(len(frame), dtype=bool)
    for spec in cells:
        if spec.kind is not CellKind.GROUP_KEY:
            continue
        if spec.categories is None:
            return small
        texts = frame[spec.column].astype("string").fillna("\x00")
        public &= texts.isin(spec.categories).to_numpy(dtype=bool)
    return small & ~public
