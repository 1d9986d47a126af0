"""Findings of the output gate: one reason it acted, with its figures, a message and a fix.

Every check (disclosure rules, value scan, differencing, custom outputs) reports in
this one shape, so reviewers read them alike and operators get them without figures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "PROBLEMS",
    "SUGGESTIONS",
    "WITHHELD_RULES",
    "Finding",
    "make_finding",
    "number",
    "operator_gate",
]

# What went wrong and what to do, per rule; both are formatted with the finding's figures.
# Suggestions reach operators, so they may name configured limits but never a cell's figures.
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
    "combination_scan": "with {columns} matches a raw record's quasi-identifier combination "
    "in {dataset} ({cells} row(s), first listed)",
    "differencing": "rests on a population differing from one of {earlier} by {difference} "
    "privacy unit(s), fewer than {threshold}; {groups} row(s) of this output do so",
    "custom_output": "is not a gate-checked table ({bytes} bytes, {media}); it is held back",
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
    "combination_scan": "Generalize or drop one of these columns: together they single out "
    "a record.",
    "differencing": "Together with an output already released or under review, this one "
    "would reveal a group of fewer than {threshold} units. Change the population broadly "
    "or ask the data authority.",
    "custom_output": "Write tables through the runtime's table helper; other files leave only "
    "as an exception approved by two reviewers with a written justification.",
}
MAX_LISTED_ROWS = 20
# Rules an operator is not told fired: a differencing hit says that some output of the
# domain, perhaps another company's, rests on nearly the same units, and which rows.
WITHHELD_RULES = frozenset({"differencing"})
WITHHELD = {
    "rule": "withheld",
    "row": None,
    "column": None,
    "suggestion": "The output was withheld by the domain's checks; ask the data authority.",
}


@dataclass
class Finding:
    """One reason the gate acted, naming the cell but never an identifying value."""

    row: int | None
    column: str | None
    rule: str
    figures: dict[str, Any]
    message: str
    suggestion: str
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.file is None:
            data.pop("file")
        return data


def make_finding(rule: str, row: int | None, column: str | None, figures: dict) -> Finding:
    where = "table" if column is None else f"column {column!r}"
    where = where if row is None else f"row {row}, {where}"
    message = f"{where} {PROBLEMS[rule].format(**figures)}"
    return Finding(row, column, rule, figures, message, SUGGESTIONS[rule].format(**figures))


def number(value: float) -> float | int | None:
    """A figure as JSON can hold it: None for NaN or infinity, whole floats as ints."""
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return int(value) if float(value).is_integer() else float(value)


def operator_gate(gate: dict[str, Any]) -> dict[str, Any]:
    """The gate's record as the operator sees it: which cell failed which rule, without
    figures; rules in WITHHELD_RULES only as one "withheld" entry, and not counted."""
    keep = ("rule", "row", "column", "suggestion")
    findings = gate.get("findings", [])
    shown = [{k: f.get(k) for k in keep} for f in findings if f["rule"] not in WITHHELD_RULES]
    if any(f["rule"] in WITHHELD_RULES for f in findings):
        shown.append(dict(WITHHELD))
    seen = {k: v for k, v in gate.items() if k != "differencing"}  # it names other jobs
    seen["findings"] = shown
    if "counts" in gate:
        seen["counts"] = {k: v for k, v in gate["counts"].items() if k not in WITHHELD_RULES}
    return seen
