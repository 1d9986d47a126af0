"""Where DuckDB brings values to one type: comparisons, mixed branches, conditions, casts.

It converts within a family (numbers, dates) and a quoted constant to what it
meets; between families it refuses the query, or converts text value by value
and fails on the first that does not convert (`UNSAFE_CONVERSION`).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlglot import exp

from policies.allowlist import function_name
from policies.analysis import DIALECT
from policies.kinds import (
    NUMBER,
    TEMPORAL,
    TYPE_MISMATCH,
    UNSAFE_CONVERSION,
    Kind,
    Mismatch,
    constant_fits,
    family,
    fix_for,
    has_column,
    is_text_constant,
    kind_of,
    show,
    type_name,
)


def conflict(
    operands: Iterable[exp.Expr | None], what: str, mixing: bool = False, ignore_text: bool = False
) -> list[Mismatch]:
    """Operands DuckDB must bring to one type: the same family, or quoted constants that fit."""
    present = [o for o in operands if isinstance(o, exp.Expr)]
    typed = [(o, k) for o in present if not is_text_constant(o) and (k := kind_of(o)) is not None]
    if ignore_text:
        typed = [(o, k) for o, k in typed if k is not Kind.TEXT]
    for operand, kind in typed[1:]:
        first, first_kind = typed[0]
        if family(kind) != family(first_kind):
            culprit = operand if has_column(operand) and not has_column(first) else first
            problem = f"{what} {type_name(first)} with {type_name(operand)}"
            fix = MIX_FIX if mixing else _compare_fix(culprit, {first_kind, kind})
            # comparing text with a number or a date converts the text, value by value
            texts = not mixing and Kind.TEXT in (kind, first_kind)
            return [Mismatch(culprit, problem, fix, UNSAFE_CONVERSION if texts else TYPE_MISMATCH)]
    if not typed or ignore_text:
        return []
    anchor = typed[0][1]
    for constant in (o for o in present if is_text_constant(o)):
        if not constant_fits(constant, anchor):
            problem = f"{what} {type_name(typed[0][0])} with {constant.sql(DIALECT)}"
            example = {"date": "DATE '2015-01-01'", "number": "42"}.get(family(anchor), "")
            fix = f"write a valid {anchor.value}" + (f", e.g. {example}" if example else "")
            return [Mismatch(typed[0][0], problem, fix)]
    return []


MIX_FIX = "give every branch one type, e.g. a DATE '2020-01-01' constant or CAST(… AS VARCHAR)"


def _compare_fix(culprit: exp.Expr, kinds: set[Kind]) -> str:
    families = {family(k) for k in kinds}
    written = show(culprit)
    if families == {"date", "number"}:
        if kind_of(culprit) in TEMPORAL:
            return (
                f"compare like with like, e.g. year({written}) = 2015 "
                f"or {written} >= DATE '2015-01-01'"
            )
        return "compare like with like: a date with DATE '2015-01-01', a number with a number"
    if families == {"text", "number"}:
        return "compare like with like: quote the number ('42'), or TRY_CAST the text to a number"
    return "give both sides the same type with an explicit CAST"


def check_comparison(node: exp.Expr) -> list[Mismatch]:
    if isinstance(node, exp.Between):
        operands = [node.this, node.args.get("low"), node.args.get("high")]
    elif isinstance(node, exp.In):
        query = node.args.get("query")
        inner = query.this if isinstance(query, exp.Subquery) else query
        selects = inner.selects if isinstance(inner, exp.Query) else []
        operands = [node.this, *node.expressions, *selects[:1]]
    else:  # a binary comparison, or NULLIF(a, b), which compares a with b
        operands = [node.this, node.args.get("expression")]
    shown = f"{show(node.this)} IN (…)" if isinstance(node, exp.In) else show(node)
    return conflict(operands, f"{shown} compares")


def check_mixing(node: exp.Expr) -> list[Mismatch]:
    """CASE branches, COALESCE, GREATEST, LEAST: DuckDB needs one result type."""
    if isinstance(node, exp.Case):
        branches = [i.args.get("true") for i in node.args.get("ifs") or []]
        found = conflict([*branches, node.args.get("default")], "CASE mixes", mixing=True)
        if node.this is not None:  # CASE x WHEN v: x is compared with every v
            found += conflict([node.this, *(i.this for i in node.args["ifs"])], "CASE compares")
        return found
    if isinstance(node, exp.If):
        if isinstance(node.parent, exp.Case):
            return []
        branches = [node.args.get("true"), node.args.get("false")]
        return conflict(branches, "IF mixes", mixing=True)
    operands = [node.this, *node.expressions]
    return conflict(operands, f"{function_name(node)}() mixes", mixing=True)


def check_set_operation(node: exp.Expr) -> list[Mismatch]:
    assert isinstance(node, exp.SetOperation)
    left, right = node.left, node.right
    if not (isinstance(left, exp.Query) and isinstance(right, exp.Query)):
        return []
    found: list[Mismatch] = []
    for a, b in zip(left.selects, right.selects, strict=False):
        what = f"{function_name(node).upper()} puts"
        found += conflict([a, b], what, mixing=True, ignore_text=True)
    return found


# ---------------------------------------------------------------- conditions and casts

CONDITION = NUMBER | {Kind.BOOLEAN}


def _condition(condition: object) -> list[Mismatch]:
    if not isinstance(condition, exp.Expr):
        return []
    kind = kind_of(condition)
    if kind is None or kind in CONDITION:
        return []
    if is_text_constant(condition) and constant_fits(condition, Kind.BOOLEAN):
        return []
    fix = f"write a comparison, e.g. {show(condition)} IS NOT NULL"
    rule = UNSAFE_CONVERSION if kind is Kind.TEXT else TYPE_MISMATCH
    return [Mismatch(condition, "a condition needs a boolean", fix, rule)]


def check_condition(node: exp.Expr) -> list[Mismatch]:
    """WHERE, HAVING, ON, AND, OR, NOT and CASE WHEN: DuckDB casts to BOOLEAN, text fails."""
    if isinstance(node, exp.Join):
        return _condition(node.args.get("on"))
    if isinstance(node, exp.If):
        case = node.parent
        return [] if isinstance(case, exp.Case) and case.this is not None else _condition(node.this)
    if isinstance(node, exp.And | exp.Or):
        return _condition(node.left) + _condition(node.right)
    return _condition(node.this)


def check_cast(node: exp.Expr) -> list[Mismatch]:
    """CAST fails the query on a value it cannot convert; TRY_CAST gives NULL instead."""
    assert isinstance(node, exp.Cast)
    if isinstance(node, exp.TryCast):
        return []
    source, target = kind_of(node.this), kind_of(node)
    if source is None or target is None or source is target or target is Kind.TEXT:
        return []
    problem = f"CAST to {type_name(node)} cannot convert {type_name(node.this)}"
    written = show(node.this)
    if is_text_constant(node.this):
        if constant_fits(node.this, target):
            return []
        return [Mismatch(node.this, problem, f"write a valid {target.value}")]
    if source is Kind.TEXT:
        fix = (
            f"use TRY_CAST({written} AS {type_name(node)}), "
            "which is NULL where a value does not convert"
        )
        return [Mismatch(node.this, problem, fix, UNSAFE_CONVERSION)]
    if family(source) == family(target) and Kind.BOOLEAN not in (source, target):
        return []
    if source in NUMBER | {Kind.BOOLEAN} and target in NUMBER | {Kind.BOOLEAN}:
        return []
    if source in TEMPORAL:
        return [Mismatch(node.this, problem, fix_for(NUMBER, source, node.this))]
    if target in TEMPORAL:
        return [Mismatch(node.this, problem, "build a date with make_date(year, month, day)")]
    return [Mismatch(node.this, problem, "convert it to text first, or leave it as it is")]


def check_if(node: exp.Expr) -> list[Mismatch]:
    """IF(c, a, b) and a CASE's WHEN: a condition, and branches of one type."""
    return check_condition(node) + check_mixing(node)
