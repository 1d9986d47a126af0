"""Every reason the gate gives for a configuration it cannot use (a cell specification,
disclosure rules), by rule: its English wording and figures, so the console can word it.

Findings about an output's cells are registered apart (`gate.findings`); these reasons
refuse the settings a check would run with, before any cell is judged.
"""

from __future__ import annotations

from typing import Any

from core.errors import Reason
from policies.reasons import Wording, worded

__all__ = ["REASONS", "REQUIREMENTS", "invalid_parameter", "reason"]

REASONS: dict[str, Wording] = {
    # a cell specification that does not fit its table (gate.tables)
    "gate_spec_kind": Wording("column {name!r} has unknown kind {kind!r}"),
    "gate_spec_twice": Wording("column {name!r} is described twice"),
    "gate_spec_absent": Wording("column {name!r} is described but not in the table"),
    "gate_spec_undescribed": Wording("column {name!r} is in the table but not described"),
    "gate_spec_not_numeric": Wording("aggregate column {name!r} is not numeric"),
    # disclosure parameters out of range, one rule per requirement (gate.registry)
    "disclosure_integer": Wording("{name} must be an integer >= 1"),
    "disclosure_true_false": Wording("{name} must be true or false"),
    "disclosure_share_below_one": Wording("{name} must be in [0, 1)"),
    "disclosure_share_above_zero": Wording("{name} must be in (0, 1]"),
    "disclosure_share": Wording("{name} must be in [0, 1]"),
    "disclosure_top_two": Wording(
        "{name} must be 1 or 2: companions carry only the two largest values"
    ),
    "disclosure_rounding": Wording("{name} must be None or an integer >= 2"),
    # a parameter whose requirement has no rule of its own: its English is the
    # parameter's own, other languages say only that the value is refused
    "disclosure_value": Wording("{name} has a value it does not accept"),
    # names and opt-ins that cannot be used
    "disclosure_known": Wording("known: {known}"),
    "disclosure_weaker_than_defaults": Wording(
        "{name} would be weaker than the defaults", "opt in by naming it: allow_weaker={refused!r}"
    ),
    "disclosure_weaker_than_base": Wording(
        "{name} would be weaker than the rules they refine",
        "opt in by naming it: allow_weaker={refused!r}",
    ),
}

# A parameter's requirement (as `gate.registry.Parameter` says it) -> the rule wording it.
REQUIREMENTS: dict[str, str] = {
    REASONS[rule].message.removeprefix("{name} "): rule
    for rule in REASONS
    if rule.startswith("disclosure_") and REASONS[rule].message.startswith("{name} must")
}


def reason(rule: str, **figures: Any) -> Reason:
    """The gate's reason for `rule`, worded from its figures."""
    return worded(REASONS, rule, **figures)


def invalid_parameter(name: str, requirement: str) -> Reason:
    """Why a disclosure parameter's value is refused: by its requirement's own rule, so
    every language can say what the parameter must be."""
    rule = REQUIREMENTS.get(requirement)
    if rule is None:
        return worded(REASONS, "disclosure_value", message=f"{name} {requirement}", name=name)
    return reason(rule, name=name)
