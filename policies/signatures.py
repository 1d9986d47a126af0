"""What functions and arithmetic accept, as DuckDB binds them: arguments by kind.

A check takes a type-annotated node and returns mismatches: the operand DuckDB
would refuse, what was needed, and a fix. Comparisons, mixing, conditions and
casts are in `coercion.py`; `typecheck.CHECKS` is the registry of both.
"""

from __future__ import annotations

from sqlglot import exp

from policies.allowlist import function_name
from policies.coercion import conflict
from policies.kinds import (
    NUMBER,
    TEMPORAL,
    TEXT,
    WHOLE,
    Kind,
    Mismatch,
    constant_fits,
    fix_for,
    has_column,
    is_small_integer,
    is_text_constant,
    kind_of,
    show,
    type_name,
)

DATES = TEMPORAL
SUMMABLE = NUMBER | {Kind.BOOLEAN}
NEEDS = {DATES: "a DATE or TIMESTAMP", TEXT: "text", NUMBER: "a number", WHOLE: "an integer"}
NEEDS[SUMMABLE] = NEEDS[NUMBER | DATES] = NEEDS[NUMBER]

# Function arguments by sqlglot arg name; arguments not listed accept anything.
ARGUMENTS: dict[type[exp.Expr], dict[str, frozenset[Kind]]] = {
    **{f: {"this": DATES} for f in (exp.Year, exp.Month, exp.Day, exp.Quarter, exp.DayOfWeek,
                                     exp.DayOfYear, exp.WeekOfYear, exp.TimestampTrunc,
                                     exp.DateTrunc, exp.DateAdd, exp.DateSub)},
    exp.Extract: {"expression": DATES},
    exp.TimeToStr: {"this": DATES, "format": TEXT},
    exp.DateDiff: {"this": DATES, "expression": DATES},
    exp.StrToDate: {"this": TEXT, "format": TEXT},
    exp.StrToTime: {"this": TEXT, "format": TEXT},
    **{f: {"this": TEXT} for f in (exp.Upper, exp.Lower, exp.Length)},
    exp.Trim: {"this": TEXT, "expression": TEXT},
    exp.Substring: {"this": TEXT, "start": WHOLE, "length": WHOLE},
    exp.Left: {"this": TEXT, "expression": WHOLE},
    exp.Right: {"this": TEXT, "expression": WHOLE},
    exp.Replace: {"this": TEXT, "expression": TEXT, "replacement": TEXT},
    exp.StrPosition: {"this": TEXT, "substr": TEXT},
    exp.Like: {"this": TEXT, "expression": TEXT},
    exp.ILike: {"this": TEXT, "expression": TEXT},
    **{f: {"this": NUMBER} for f in (exp.Abs, exp.Ceil, exp.Floor, exp.Ln, exp.Sqrt, exp.Exp,
                                      exp.Sign, exp.Stddev, exp.StddevPop, exp.StddevSamp,
                                      exp.Variance, exp.VariancePop)},
    exp.Avg: {"this": NUMBER | DATES},
    exp.Round: {"this": NUMBER, "decimals": WHOLE},
    exp.Log: {"this": NUMBER, "expression": NUMBER},
    exp.Pow: {"this": NUMBER, "expression": NUMBER},
    exp.Sum: {"this": SUMMABLE},
    exp.Ntile: {"this": WHOLE},
    exp.DateFromParts: {"year": WHOLE, "month": WHOLE, "day": WHOLE},
}  # fmt: skip
# DuckDB functions sqlglot leaves anonymous, by position.
ANONYMOUS_ARGUMENTS: dict[str, dict[int, frozenset[Kind]]] = {
    "date_part": {1: DATES},
    "datepart": {1: DATES},
    "round_even": {0: NUMBER, 1: WHOLE},
}


def _argument(node: exp.Expr, argument: object, kinds: frozenset[Kind]) -> list[Mismatch]:
    if not isinstance(argument, exp.Expr):
        return []
    if isinstance(argument, exp.Distinct) and len(argument.expressions) == 1:
        argument = argument.expressions[0]
    assert isinstance(argument, exp.Expr)
    found = kind_of(argument)
    if found is None:
        return []
    if is_text_constant(argument):
        numeric = kinds <= NUMBER and any(constant_fits(argument, k) for k in kinds)
        if Kind.TEXT in kinds or numeric:
            return []
    elif found in kinds:
        return []
    problem = f"{function_name(node)}() needs {NEEDS[kinds]}"
    return [Mismatch(argument, problem, fix_for(kinds, found, argument))]


def check_arguments(node: exp.Expr) -> list[Mismatch]:
    wanted = ARGUMENTS.get(type(node), {})
    return [m for key, kinds in wanted.items() for m in _argument(node, node.args.get(key), kinds)]


def check_anonymous(node: exp.Expr) -> list[Mismatch]:
    name = function_name(node)
    if name in ("greatest", "least"):
        return conflict(node.expressions, f"{name}() mixes", mixing=True)
    wanted = ANONYMOUS_ARGUMENTS.get(name, {})
    arguments = node.expressions
    return [
        m
        for index, kinds in wanted.items()
        if index < len(arguments)
        for m in _argument(node, arguments[index], kinds)
    ]


# ---------------------------------------------------------------- arithmetic

SYMBOLS = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.IntDiv: "//", exp.Mod: "%"}


def _operand_kind(operand: exp.Expr, other: exp.Expr) -> Kind | None:
    """A quoted number next to a number is read as one (1 + '2' works); any other is text."""
    kind, partner = kind_of(operand), kind_of(other)
    if is_text_constant(operand) and partner in NUMBER and constant_fits(operand, Kind.REAL):
        return partner
    return kind


def _combines(node: exp.Binary, left: Kind, right: Kind) -> bool:
    if left in NUMBER and right in NUMBER:
        return True
    kinds = {left, right}
    if isinstance(node, exp.Add):
        dated = kinds & TEMPORAL
        if dated and kinds - dated == {Kind.INTERVAL} or kinds == {Kind.INTERVAL}:
            return True
        return kinds == {Kind.DATE, Kind.INTEGER} and _small_beside_date(node)
    if isinstance(node, exp.Sub):
        if left in TEMPORAL | {Kind.INTERVAL} and right is Kind.INTERVAL:
            return True
        if left in TEMPORAL and right in TEMPORAL:
            return True
        return left is Kind.DATE and right is Kind.INTEGER and is_small_integer(node.right)
    if isinstance(node, exp.Mul | exp.Div):
        return Kind.INTERVAL in kinds and bool(kinds & NUMBER)
    return False


def _small_beside_date(node: exp.Binary) -> bool:
    numbers = [side for side in (node.left, node.right) if kind_of(side) in NUMBER]
    return any(is_small_integer(side) for side in numbers)


def _not_computable(operand: exp.Expr, kind: Kind | None, symbol: str) -> list[Mismatch]:
    if kind not in (Kind.TEXT, Kind.BOOLEAN):
        return []
    problem = f"'{symbol}' needs numbers, dates or intervals"
    return [Mismatch(operand, problem, fix_for(NUMBER, kind, operand))]


def check_negation(node: exp.Expr) -> list[Mismatch]:
    kind = kind_of(node.this)
    if kind in TEMPORAL:
        return [Mismatch(node.this, "'-' cannot negate a date", fix_for(NUMBER, kind, node.this))]
    return _not_computable(node.this, kind, "-")


def check_arithmetic(node: exp.Expr) -> list[Mismatch]:
    assert isinstance(node, exp.Binary)
    symbol = SYMBOLS[type(node)]
    left = _operand_kind(node.left, node.right)
    right = _operand_kind(node.right, node.left)
    found = _not_computable(node.left, left, symbol) or _not_computable(node.right, right, symbol)
    if found or left is None or right is None or _combines(node, left, right):
        return found
    kinds = f"{type_name(node.left)} and {type_name(node.right)}"
    problem = f"'{symbol}' cannot combine {kinds} in {show(node)}"
    if left not in TEMPORAL and right not in TEMPORAL:  # a number and an INTERVAL
        culprit = node.left if has_column(node.left) or not has_column(node.right) else node.right
        fix = "an INTERVAL moves a DATE or TIMESTAMP; to a number add a number"
        return [Mismatch(culprit, problem, fix)]
    dated = node.left if left in TEMPORAL else node.right
    other = node.right if dated is node.left else node.left
    moved = isinstance(node, exp.Add) or isinstance(node, exp.Sub) and dated is node.left
    if moved and kind_of(other) in NUMBER:
        culprit = other if has_column(other) else dated
        if kind_of(dated) is Kind.TIMESTAMP:
            return [
                Mismatch(culprit, problem, "move a TIMESTAMP by an INTERVAL, e.g. INTERVAL 1 DAY")
            ]
        fix = (
            f"move a date by whole days as an INTEGER, CAST({show(other)} AS INTEGER), "
            "or by an INTERVAL, e.g. INTERVAL 1 DAY"
        )
        return [Mismatch(culprit, problem, fix)]
    return [Mismatch(dated, problem, fix_for(NUMBER, Kind.DATE, dated))]
