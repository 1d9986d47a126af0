"""Findings of the output gate: one reason it acted, with its figures, a message and a fix.

Every check (disclosure rules, value scan, differencing, custom outputs) reports in
this one shape, so reviewers read them alike and operators get them without figures.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from gate.registry import RULES, Parameter, Rule, Weaker, number, register

__all__ = [
    "PROBLEMS",
    "SUGGESTIONS",
    "Finding",
    "make_finding",
    "number",
    "operator_gate",
]

MAX_LISTED_ROWS = 20
# What of a gate record an operator sees; everything else stays with the domain's staff
# (which rule fired where is computed from exact figures, and a differencing hit would
# say that another output of the domain rests on nearly the same units).
OPERATOR_KEYS = ("blocked", "rules")
WITHHELD = {
    "rule": "withheld",
    "row": None,
    "column": None,
    "suggestion": "The output was withheld by the domain's checks; ask the data authority.",
}


class _Wording(Mapping[str, str]):
    """One field of every registered rule, by rule name: always the registry's current text."""

    def __init__(self, field: str) -> None:
        self.field = field

    def __getitem__(self, rule: str) -> str:
        return str(getattr(RULES[rule], self.field))

    def __iter__(self) -> Iterator[str]:
        return iter(list(RULES))

    def __len__(self) -> int:
        return len(RULES)


# What went wrong and what to do, per rule; both are formatted with the finding's figures.
PROBLEMS: Mapping[str, str] = _Wording("problem")
SUGGESTIONS: Mapping[str, str] = _Wording("suggestion")


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
    entry = RULES[rule]
    message = f"{where} {entry.problem.format(**figures)}"
    return Finding(row, column, rule, figures, message, entry.suggestion.format(**figures))


# Findings the rest of the gate makes (suppression, the value scan, differencing, custom
# outputs); the cell-by-cell rules are registered beside their ACRO formulas in
# gate.disclosure. None has a check here: the modules named make these findings.
for _entry in (
    Rule(
        "secondary",  # gate.suppression
        "is suppressed so that row {protects_row} cannot be recovered from a total",
        "Coarsen the grouping so fewer cells need suppressing.",
    ),
    Rule(
        "too_much_suppressed",  # gate.tables
        "has {suppressed_share:.0%} of aggregate cells suppressed, "
        "above {max_suppressed_share:.0%}",
        "Coarsen the grouping: too little of the table would remain.",
        parameters=(
            Parameter(
                "max_suppressed_share",
                default=0.5,
                weaker=Weaker.HIGHER,
                valid=lambda v: isinstance(v, int | float) and 0 <= v <= 1,
                requirement="must be in [0, 1]",
            ),
        ),
    ),
    Rule(
        "missing_companion",  # gate.tables
        "cannot be checked: companion column(s) {missing} missing or null",
        "Run the query through the policy engine; the gate never guesses.",
    ),
    Rule(
        "value_scan",  # gate.value_scan
        "holds a value matching a raw identifier ({cells} cell(s), first listed)",
        "Drop or generalize the column: outputs may not carry raw identifiers.",
        alert="value_scan_hit",
    ),
    Rule(
        "combination_scan",  # gate.value_scan
        "with {columns} matches a raw record's quasi-identifier combination "
        "in {dataset} ({cells} row(s), first listed)",
        "Generalize or drop one of these columns: together they single out a record.",
        alert="quasi_identifier_hit",
    ),
    Rule(
        "differencing",  # gate.differencing
        "rests on a population differing from one of {earlier} by {difference} "
        "privacy unit(s), fewer than {threshold}; {groups} row(s) of this output do so",
        "Together with an output already released or under review, this one would reveal "
        "a group of fewer than {threshold} units. Change the population broadly or ask the "
        "data authority.",
        alert="differencing_hit",
    ),
    Rule(
        "custom_output",  # gate.candidates
        "is not a gate-checked table ({bytes} bytes, {media}); it is held back",
        "Ask for tables through SQL or a notebook's query(), which the gate checks; other "
        "files leave only as an exception approved by two reviewers with a written "
        "justification.",
    ),
):
    register(_entry)


def operator_gate(gate: dict[str, Any]) -> dict[str, Any]:
    """The gate's record as the operator sees it: whether the output is blocked, and at
    most one "withheld" entry. Which rule fired, on which cell, is computed from exact
    figures (a p-ratio flag says one unit dominates), so operators see the same thing
    whatever rule or data caused it; reviewers and regulators see everything."""
    seen: dict[str, Any] = {k: gate[k] for k in OPERATOR_KEYS if k in gate}
    seen["findings"] = [dict(WITHHELD)] if gate.get("findings") else []
    return seen
