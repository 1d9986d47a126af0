"""The disclosure-rule registry (披露规则登记): one entry per rule the output gate applies.

An entry names the rule and carries everything else the gate needs to know of it:
which cells it judges and how (a pure function over one column's cells and their
companions), what a reviewer reads when it fails and what to do, the parameters it
takes with ACRO's defaults and which way each is weaker, and the regulator alert it
raises. The gate's parameters (`DisclosureRules`), the weaker-than refusal, the
strictest rules over several datasets, the cell checks of `gate.tables`, the wording
of findings and the alerts are all read from here, so a new rule is one function and
one `register` call (docs/adding-a-disclosure-rule.md), like `audit_log.alerts.RULES`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import FrozenInstanceError, dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.cells import AGGREGATES, CellKind
from core.errors import InvalidInput, Step
from gate.reasons import invalid_parameter, reason

__all__ = [
    "RULES",
    "Cells",
    "DisclosureRules",
    "Parameter",
    "Rule",
    "Verdict",
    "Weaker",
    "alerts_for",
    "cell_checks",
    "number",
    "parameters",
    "register",
    "register_parameter",
    "rule_name",
    "unregister",
]

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]


class Weaker(StrEnum):
    """Which way a parameter protects less; `None` (switched off) is always weakest."""

    LOWER = "lower"  # a smaller value protects less: a threshold, a p, a flag turned off
    HIGHER = "higher"  # a larger value protects less: a dominance share k, a suppressed share


@dataclass(frozen=True)
class Parameter:
    """One setting of a rule, with ACRO's default and the values it may take."""

    name: str
    default: Any
    weaker: Weaker
    valid: Callable[[Any], bool]
    requirement: str  # what `valid` asks, said after the name: "must be an integer >= 1"
    acro_name: str | None = None  # ACRO's configuration name, so an ACRO yaml can be reused

    def protects_less(self, value: Any, than: Any) -> bool:
        if than is None:
            return False
        if value is None:
            return True
        return bool(value < than) if self.weaker is Weaker.LOWER else bool(value > than)

    def strictest(self, values: Iterable[Any]) -> Any:
        given = [v for v in values if v is not None]
        if not given:
            return None
        return max(given) if self.weaker is Weaker.LOWER else min(given)


@dataclass(frozen=True)
class Cells:
    """One aggregate column's cells and their companions, one array entry per row.

    Contributions are per privacy unit (ACRO: per record). A count carries none, so
    for counts `top1`, `top2` and `absolute` are NaN and `negative` is all False.
    """

    column: str
    kind: CellKind
    n: Floats  # distinct privacy units (`__n`)
    value: Floats  # the cell as it would be released (noise, if any, already added)
    top1: Floats  # the largest absolute contribution
    top2: Floats  # the second largest (0 when fewer than two units)
    absolute: Floats  # the sum of absolute contributions
    negative: Bools  # some contribution is below 0 (known only when a signed total is)


@dataclass(frozen=True)
class Verdict:
    """Which cells fail a rule, and the figures a reviewer reads for a failing row."""

    fails: Bools
    figures: Callable[[int], dict[str, Any]]


Check = Callable[[Cells, "DisclosureRules"], Verdict]


@dataclass(frozen=True)
class Rule:
    """One registry entry. `problem` follows "row 3, column 'fee'" and, like
    `suggestion`, is formatted with the finding's figures. Suggestions reach
    operators, so they may name configured limits but never a cell's figures."""

    name: str
    problem: str
    suggestion: str
    check: Check | None = None  # None: another part of the gate makes these findings
    kinds: frozenset[CellKind] = frozenset()  # the aggregate cells `check` judges
    parameters: tuple[Parameter, ...] = ()
    alert: str | None = None  # raised for regulators (alert.<name>) when the rule finds


RULES: dict[str, Rule] = {}
_PARAMETERS: dict[str, Parameter] = {}  # every rule's parameters, and those of no rule


def _claim(parameter: Parameter) -> None:
    taken = set(_PARAMETERS) | set(_acro_names())
    if taken & {parameter.name, parameter.acro_name}:
        raise ValueError(f"a disclosure parameter named {parameter.name!r} exists already")
    if hasattr(DisclosureRules, parameter.name) or parameter.name.startswith("_"):
        raise ValueError(f"{parameter.name!r} cannot name a parameter of DisclosureRules")
    if not parameter.valid(parameter.default):
        raise ValueError(f"the default of {parameter.name} is invalid: it {parameter.requirement}")


def register(rule: Rule) -> Rule:
    """Add a rule (and its parameters) to every check from now on; returns it."""
    if rule.name in RULES:
        raise ValueError(f"a disclosure rule named {rule.name!r} is registered already")
    if rule.check is not None and not rule.kinds or not rule.kinds <= AGGREGATES:
        raise ValueError(f"rule {rule.name!r}: a check names the aggregate cell kinds it judges")
    if rule.check is None and rule.kinds:
        raise ValueError(f"rule {rule.name!r}: cell kinds given but no check to judge them")
    names = [p.name for p in rule.parameters]
    if len(set(names)) < len(names):
        raise ValueError(f"rule {rule.name!r} names a parameter twice")
    for parameter in rule.parameters:
        _claim(parameter)
    RULES[rule.name] = rule
    _PARAMETERS.update((p.name, p) for p in rule.parameters)
    return rule


def register_parameter(parameter: Parameter) -> Parameter:
    """A gate setting that no one rule owns (rounding acts on every released cell)."""
    _claim(parameter)
    _PARAMETERS[parameter.name] = parameter
    return parameter


def unregister(name: str) -> None:
    """Remove a rule or a rule-less parameter by name, with the rule's parameters."""
    rule = RULES.pop(name, None)
    for parameter in rule.parameters if rule else ():
        del _PARAMETERS[parameter.name]
    if rule is None:
        del _PARAMETERS[name]


def parameters() -> dict[str, Parameter]:
    """Every registered parameter, in registration order."""
    return dict(_PARAMETERS)


def cell_checks(kind: CellKind) -> list[tuple[str, Check]]:
    """The rules that judge cells of this kind, by name, in registration order."""
    return [(r.name, r.check) for r in RULES.values() if r.check is not None and kind in r.kinds]


def alerts_for(rules_hit: Collection[str]) -> list[str]:
    """The regulator alerts that findings of these rules raise."""
    return [r.alert for r in RULES.values() if r.alert and r.name in rules_hit]


def _acro_names() -> dict[str, str]:
    return {p.acro_name: p.name for p in _PARAMETERS.values() if p.acro_name}


def rule_name(key: str) -> str:
    """The Sluice name of a parameter given by its own or by ACRO's configuration name."""
    return _acro_names().get(key, key)


def number(value: float) -> float | int | None:
    """A figure as JSON can hold it: None for NaN or infinity, whole floats as ints."""
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return int(value) if float(value).is_integer() else float(value)


class DisclosureRules:
    """The gate's parameters: a value for each registered parameter, read as an attribute
    (`rules.threshold`); defaults are ACRO's (default.yaml). Immutable and hashable.

    A parameter registered after these rules were made reads as its default.
    """

    __slots__ = ("_values",)
    _values: dict[str, Any]

    def __init__(self, **values: Any) -> None:
        known = parameters()
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise TypeError(f"unknown disclosure parameter(s) {unknown}; known: {sorted(known)}")
        full = {name: values.get(name, p.default) for name, p in known.items()}
        refused = [
            invalid_parameter(name, p.requirement)
            for name, p in known.items()
            if not p.valid(full[name])
        ]
        if refused:
            raise InvalidInput(
                "invalid disclosure rules: " + "; ".join(r.message for r in refused), refused
            )
        object.__setattr__(self, "_values", full)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._values and name in _PARAMETERS:
            return self._values[name]
        if name in _PARAMETERS:
            return _PARAMETERS[name].default
        raise AttributeError(f"no disclosure parameter {name!r}; known: {sorted(_PARAMETERS)}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DisclosureRules) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(tuple(self.to_dict().items()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"DisclosureRules({shown})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (dict(self._values),))

    def replace(self, **changes: Any) -> DisclosureRules:
        """These rules with some values changed (validated again)."""
        return DisclosureRules(**{**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _PARAMETERS}

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        *,
        allow_weaker: bool | Collection[str] = False,
        base: DisclosureRules | None = None,
    ) -> DisclosureRules:
        """Rules from configuration, starting from `base` (ACRO's defaults unless given).

        A value that protects less than `base` is refused unless opted in by name:
        `allow_weaker` lists the parameters that may be weaker (True allows all).
        """
        start = base or cls()
        known = set(_PARAMETERS)
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = rule_name(key)
            if name not in known:
                raise InvalidInput(
                    f"unknown disclosure rule {key!r}",
                    [reason("disclosure_known", known=sorted(known))],
                )
            values[name] = value
        rules = start.replace(**values)
        allowed = set(known) if allow_weaker is True else set(allow_weaker or ())
        if allowed - known:
            raise InvalidInput(
                f"allow_weaker names unknown rules {sorted(allowed - known)}",
                [reason("disclosure_known", known=sorted(known))],
            )
        refused = [name for name in rules.weaker_than(start) if name not in allowed]
        if refused:
            raise _weaker_refused(refused, refining=base is not None)
        return rules

    @classmethod
    def strictest(cls, first: DisclosureRules, *others: DisclosureRules) -> DisclosureRules:
        """Per parameter, the most protective of these rules (for outputs over several datasets)."""
        every: Sequence[DisclosureRules] = (first, *others)
        return cls(
            **{
                name: p.strictest(getattr(r, name) for r in every)
                for name, p in parameters().items()
            }
        )

    def weaker_than(self, other: DisclosureRules) -> list[str]:
        """Names of the parameters on which these rules protect less than `other`."""
        return [
            name
            for name, p in parameters().items()
            if p.protects_less(getattr(self, name), getattr(other, name))
        ]


def _rebuilt(values: dict[str, Any]) -> DisclosureRules:
    rules = object.__new__(DisclosureRules)
    object.__setattr__(rules, "_values", values)
    return rules


def _weaker_refused(refused: list[str], refining: bool) -> InvalidInput:
    """Refuse weaker values, each by its own reason; `refining` says they refine a
    dataset's base rules rather than the defaults."""
    hint = f"allow_weaker={refused!r}"
    rule = "disclosure_weaker_than_base" if refining else "disclosure_weaker_than_defaults"
    what = "the rules they refine" if refining else "the defaults"
    reasons = [reason(rule, name=name, refused=refused) for name in refused]
    return InvalidInput(
        f"refusing disclosure rules weaker than {what} ({', '.join(refused)})",
        reasons,
        suggestion=f"opt in by naming them ({hint})",
        step=Step.ALLOW_WEAKER,
    )
