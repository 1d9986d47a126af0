"""The disclosure-rule registry: a new rule is one function and one entry, and the
gate, the rules' parameters and the alerts all follow it; every entry is complete."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest

from core.cells import AGGREGATES, CellKind
from core.errors import InvalidInput
from gate.disclosure import DisclosureRules
from gate.findings import PROBLEMS, SUGGESTIONS
from gate.reasons import REQUIREMENTS
from gate.registry import (
    RULES,
    Cells,
    Parameter,
    Rule,
    Verdict,
    Weaker,
    alerts_for,
    number,
    parameters,
    register,
    unregister,
)
from gate.tables import CellSpec, check_table, companion_columns
from service.web.i18n import translator
from service.web.wording import reason_words


# The newcomer's rule: no released count or sum above a configured ceiling.
def max_cell_value_check(cells: Cells, rules: DisclosureRules) -> Verdict:
    with np.errstate(invalid="ignore"):
        fails = cells.value > rules.max_cell_value
    return Verdict(fails, lambda i: {"limit": rules.max_cell_value, "n": number(cells.n[i])})


MAX_CELL_VALUE = Rule(
    "max_cell_value",
    problem="is above the largest value allowed, {limit}",
    suggestion="Aggregate more coarsely so no released value exceeds {limit}.",
    check=max_cell_value_check,
    kinds=frozenset({CellKind.COUNT, CellKind.SUM}),
    parameters=(
        Parameter(
            "max_cell_value",
            default=1_000,
            weaker=Weaker.HIGHER,
            valid=lambda v: isinstance(v, int | float) and v > 0,
            requirement="must be a number > 0",
        ),
    ),
    alert="max_cell_value_hit",
)


@contextmanager
def registered(rule: Rule) -> Iterator[Rule]:
    register(rule)
    try:
        yield rule
    finally:
        unregister(rule.name)


def district_table(counts: list[int]) -> pd.DataFrame:
    """Districts on 20 units each, evenly spread sums: only the new rule can bite."""
    n = [20] * len(counts)
    fee = [10.0 * c for c in counts]
    frame = pd.DataFrame({"district": [f"d{i}" for i in range(len(counts))], "cnt": counts})
    frame["fee"], frame["__n"] = fee, n
    names = companion_columns("fee")
    frame[names["top1"]] = frame[names["top2"]] = [f / 20 for f in fee]
    frame[names["abs"]] = fee
    return frame


CELLS = [CellSpec("district", "group_key"), CellSpec("cnt", "count"), CellSpec("fee", "sum")]


def test_a_registered_rule_is_checked_worded_and_suppressed() -> None:
    frame = district_table([40, 50, 1_500, 60, 70])
    assert check_table(frame, CELLS, DisclosureRules()).findings == []
    with registered(MAX_CELL_VALUE):
        result = check_table(frame, CELLS, DisclosureRules())
    found = [f for f in result.findings if f.rule == "max_cell_value"]
    assert [(f.row, f.column) for f in found] == [(2, "cnt"), (2, "fee")]
    assert found[0].message == "row 2, column 'cnt' is above the largest value allowed, 1000"
    assert found[0].suggestion == "Aggregate more coarsely so no released value exceeds 1000."
    assert result.counts["max_cell_value"] == 2
    # suppressed like any failing cell, and protected from the grand total
    assert result.table["cnt"].isna().tolist() == [True, False, True, False, False]
    assert {f.rule for f in result.findings} == {"max_cell_value", "secondary"}
    # its parameter is a disclosure rule like ACRO's
    with registered(MAX_CELL_VALUE):
        lax = check_table(frame, CELLS, DisclosureRules(max_cell_value=20_000))
    assert lax.findings == []


def test_a_registered_rule_brings_its_parameter_weaker_check_strictest_and_alert() -> None:
    before = DisclosureRules()
    with registered(MAX_CELL_VALUE):
        assert before.max_cell_value == 1_000  # made earlier: reads the default
        assert DisclosureRules().to_dict()["max_cell_value"] == 1_000
        tight, loose = DisclosureRules(max_cell_value=50), DisclosureRules(max_cell_value=5_000)
        assert DisclosureRules.strictest(loose, tight).max_cell_value == 50
        assert loose.weaker_than(tight) == ["max_cell_value"] and tight.weaker_than(loose) == []
        with pytest.raises(InvalidInput, match="allow_weaker=\\['max_cell_value'\\]"):
            DisclosureRules.from_dict({"max_cell_value": 5_000})
        opted = DisclosureRules.from_dict({"max_cell_value": 5_000}, allow_weaker=True)
        assert opted.max_cell_value == 5_000
        assert DisclosureRules.from_dict({"max_cell_value": 10}).max_cell_value == 10
        with pytest.raises(InvalidInput, match="max_cell_value must be a number > 0"):
            DisclosureRules(max_cell_value=-1)
        assert alerts_for({"max_cell_value", "threshold"}) == ["max_cell_value_hit"]
        assert PROBLEMS["max_cell_value"] == MAX_CELL_VALUE.problem
    # unregistered, it is gone from every derived place
    assert "max_cell_value" not in RULES and "max_cell_value" not in parameters()
    assert "max_cell_value" not in DisclosureRules().to_dict()
    with pytest.raises(InvalidInput, match="unknown disclosure rule"):
        DisclosureRules.from_dict({"max_cell_value": 10})
    assert alerts_for({"max_cell_value"}) == []


def test_refused_rules_are_worded_in_chinese_from_their_figures() -> None:
    """Each refused parameter is a reason of its own requirement's rule, so the console
    says what it must be in Chinese; weaker values say how to opt in."""
    zh = translator("zh-CN")
    with pytest.raises(InvalidInput, match="threshold must be an integer >= 1") as bad:
        DisclosureRules(threshold=0, p_ratio=2)
    worded = [reason_words(r, zh) for r in bad.value.reasons]
    assert [w.message for w in worded] == [
        "threshold 必须是不小于 1 的整数",
        "p_ratio 必须在 [0, 1) 范围内",
    ]
    with pytest.raises(InvalidInput, match="weaker than the defaults") as weaker:
        DisclosureRules.from_dict({"threshold": 3})
    [said] = [reason_words(r, zh) for r in weaker.value.reasons]
    assert (said.message, said.suggestion) == (
        "threshold 将弱于默认规则",
        "如确需放宽，请明确列出：`allow_weaker=['threshold']`",
    )


def test_every_parameters_requirement_has_a_rule_of_its_own() -> None:
    """A parameter whose requirement has no registered wording would be refused in
    English only: register its requirement in gate.reasons beside the others."""
    assert [p.name for p in parameters().values() if p.requirement not in REQUIREMENTS] == []
    with registered(MAX_CELL_VALUE):  # unregistered requirement: still its own English
        with pytest.raises(InvalidInput) as bad:
            DisclosureRules(max_cell_value=-1)
    [refused] = bad.value.reasons
    assert (refused.rule, refused.message) == (
        "disclosure_value",
        "max_cell_value must be a number > 0",
    )


def test_registering_refuses_clashes_and_half_entries() -> None:
    with pytest.raises(ValueError, match="registered already"):
        register(RULES["threshold"])
    taken = Parameter("threshold", 5, Weaker.LOWER, lambda v: True, "may be anything")
    with pytest.raises(ValueError, match="exists already"):
        register(Rule("another", "x", "y", parameters=(taken,)))
    with pytest.raises(ValueError, match="cell kinds"):
        register(Rule("kindless", "x", "y", check=max_cell_value_check))
    with pytest.raises(ValueError, match="cannot name"):
        shadow = Parameter("to_dict", 1, Weaker.LOWER, lambda v: True, "may be anything")
        register(Rule("shadowing", "x", "y", parameters=(shadow,)))
    assert {"another", "kindless", "shadowing"}.isdisjoint(RULES)


def test_defaults_are_acros() -> None:
    assert DisclosureRules().to_dict() == {
        "threshold": 10,
        "zeros_disclosive": True,
        "p_ratio": 0.10,
        "nk_n": 2,
        "nk_k": 0.90,
        "rounding_base": None,
        "max_suppressed_share": 0.5,
    }


@pytest.mark.parametrize("name", list(RULES))
def test_every_entry_has_wording_and_every_parameter_a_default_and_direction(name: str) -> None:
    rule = RULES[name]
    assert rule.problem.strip() and rule.suggestion.strip()
    assert PROBLEMS[name] == rule.problem and SUGGESTIONS[name] == rule.suggestion
    assert (rule.check is None) == (not rule.kinds) and rule.kinds <= AGGREGATES
    for parameter in rule.parameters:
        assert isinstance(parameter.weaker, Weaker)
        assert parameter.valid(parameter.default), parameter.name
        assert parameter.requirement.strip()


@pytest.mark.parametrize("name", [n for n, r in RULES.items() if r.check is not None])
def test_every_cell_rule_words_the_figures_its_check_gives(name: str) -> None:
    rule = RULES[name]
    one = np.array([3.0])
    for kind in rule.kinds:
        cells = Cells("c", kind, one, one * 5, one, one * 0, one * 4, np.array([True]))
        assert rule.check is not None
        figures = rule.check(cells, DisclosureRules()).figures(0)
        assert rule.problem.format(**figures) and rule.suggestion.format(**figures)


def test_every_parameter_is_owned_and_weaker_one_way() -> None:
    for name, parameter in parameters().items():
        assert parameter.name == name
        assert parameter.protects_less(None, parameter.default) is (parameter.default is not None)
        assert not parameter.protects_less(parameter.default, parameter.default)
