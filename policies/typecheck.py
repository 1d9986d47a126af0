"""Type checking against the store: refuse at check time what the engine would reject.

Desensitization changes types (a pseudonym is text, a generalized year a DATE on
1 January), so sqlglot annotates the query with every column's stored type and
`CHECKS` judges each function, operator, comparison and cast: a query
that passes must not fail in DuckDB for a type reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.optimizer.annotate_types import annotate_types

from catalog.schema import DatasetSchema
from catalog.storage import DUCKDB_TYPES, duckdb_types
from core.errors import Reason
from policies.allowlist import function_name
from policies.analysis import DIALECT, ColumnUse, qualify_tree, resolve_uses
from policies.coercion import (
    check_cast,
    check_comparison,
    check_condition,
    check_if,
    check_mixing,
    check_set_operation,
)
from policies.kinds import TEMPORAL, Check, DType, Kind, Mismatch, kind_of, show, type_name
from policies.reasons import reason
from policies.signatures import (
    ARGUMENTS,
    SYMBOLS,
    check_anonymous,
    check_arguments,
    check_arithmetic,
    check_negation,
)

METHOD_NOTES = {
    "pseudonymize": "pseudonymized: a keyed hash, as text",
    "mask": "masked: text with starred characters",
    "generalize:year": "generalize:year keeps 1 January of its year",
    "generalize:month": "generalize:month keeps the first day of its month",
    "generalize:prefix": "generalize:prefix keeps its first characters, as text",
    "generalize:bucket": "generalize:bucket keeps the lower bound of its bucket",
    "noise": "noise adds random noise, as a DOUBLE",
}
# Results sqlglot does not know for DuckDB, by function name.
ANONYMOUS_RETURNS = {
    "date_part": DType.BIGINT,
    "datepart": DType.BIGINT,
    "round_even": DType.DOUBLE,
}
_BASE = Dialect.get_or_raise(DIALECT).EXPRESSION_METADATA


def _annotate_sub(annotator: Any, node: exp.Sub) -> exp.Expr:
    """DuckDB subtracts dates into days (BIGINT) and timestamps into an INTERVAL."""
    _BASE[exp.Sub]["annotator"](annotator, node)
    kinds = {kind_of(node.left), kind_of(node.right)}
    if kinds <= TEMPORAL:
        annotator._set_type(node, DType.BIGINT if kinds == {Kind.DATE} else DType.INTERVAL)
    return node


def _annotate_anonymous(annotator: Any, node: exp.Anonymous) -> exp.Expr:
    _BASE[exp.Anonymous]["annotator"](annotator, node)
    returns = ANONYMOUS_RETURNS.get(function_name(node))
    if returns is not None:
        annotator._set_type(node, returns)
    return node


def _annotate_as_argument(annotator: Any, node: exp.Expr) -> exp.Expr:
    """Aggregates that return a value of their argument's kind (MEDIAN, FIRST, ARG_MAX)."""
    return annotator._annotate_by_args(node, "this")


METADATA: dict[type[exp.Expr], dict[str, Any]] = {
    **_BASE,
    exp.Sub: {"annotator": _annotate_sub},
    exp.Anonymous: {"annotator": _annotate_anonymous},
    **{f: {"returns": DType.VARCHAR} for f in (exp.Left, exp.Right, exp.Replace)},
    **{f: {"annotator": _annotate_as_argument} for f in (exp.Median, exp.First, exp.Last,
                                                          exp.ArgMax, exp.ArgMin)},
}  # fmt: skip


# One check per node type, in the style of `audit_log.alerts.RULES`; a node type missing
# here accepts anything (the allow-list has already refused what DuckDB must not run).
CHECKS: dict[type[exp.Expr], Check] = {
    **{t: check_arguments for t in ARGUMENTS},
    exp.Anonymous: check_anonymous,
    **{t: check_arithmetic for t in SYMBOLS},
    exp.Neg: check_negation,
    **{t: check_comparison for t in (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
                                     exp.NullSafeEQ, exp.Between, exp.In, exp.Nullif)},
    **{t: check_mixing for t in (exp.Case, exp.Coalesce, exp.Greatest, exp.Least)},
    **{t: check_set_operation for t in (exp.Union, exp.Intersect, exp.Except)},
    **{t: check_condition for t in (exp.Where, exp.Having, exp.Join, exp.And, exp.Or, exp.Not)},
    exp.If: check_if,
    exp.Cast: check_cast,
    exp.TryCast: check_cast,
}  # fmt: skip


def annotate(tree: exp.Query, schemas: Mapping[str, DatasetSchema]) -> exp.Query:
    """A copy of the qualified tree with every node's type, columns typed as stored."""
    mapping: dict[str, object] = {name: duckdb_types(s) for name, s in schemas.items()}
    return annotate_types(
        tree.copy(), schema=mapping, expression_metadata=METADATA, dialect=DIALECT
    )


def type_reasons(tree: exp.Query, schemas: Mapping[str, DatasetSchema]) -> list[Reason]:
    """Every operand of a type the engine would refuse, innermost first, one reason each.

    An outer call is not blamed again for an operand already found wrong inside it:
    `upper(year(phone))` is one mistake, not two.
    """
    annotated = annotate(tree, schemas)
    uses = {id(u.node): u for u in resolve_uses(annotated, schemas) if u.node is not None}
    reasons: dict[str, Reason] = {}  # the same mistake in SELECT and GROUP BY is said once
    blamed: set[int] = set()
    for node in reversed(list(annotated.walk(bfs=False))):  # operands before their users
        check = CHECKS.get(type(node))
        for mismatch in check(node) if check else []:
            inside = {id(n) for n in mismatch.argument.walk()}
            if inside & blamed:
                continue
            blamed |= inside
            reason = _reason(mismatch, uses)
            reasons.setdefault(reason.message, reason)
    return list(reasons.values())[::-1]


def row_filter_reasons(
    filters: Mapping[str, exp.Expr], schemas: Mapping[str, DatasetSchema]
) -> list[Reason]:
    """Each dataset's license row filter must fit that dataset's stored types.

    The filter is applied to the data before the job runs; a filter granted before a
    store changed type (`founded >= 2015` once `founded` is a DATE) would fail every
    job, so the operator is told, and who can fix it.
    """
    reasons: list[Reason] = []
    for name, predicate in sorted(filters.items()):
        schema = {name: schemas[name]}
        probe = exp.select("*").from_(name).where(predicate.copy())
        for found in type_reasons(qualify_tree(probe, schema), schema):
            reasons.append(
                reason(
                    "row_filter_type",
                    column=found.column,
                    message=f"the license's row filter for {name} does not fit the store: "
                    f"{found.message}",
                    suggestion="ask the data authority to correct the license's row filter "
                    f"({found.suggestion})",
                    dataset=name,
                )
            )
    return reasons


def _reason(mismatch: Mismatch, uses: Mapping[int, ColumnUse]) -> Reason:
    argument = mismatch.argument
    column = _named_column(argument)
    operand = {"expression": show(argument), "type": type_name(argument)}
    if column is None:
        message = f"{mismatch.problem}: {show(argument)} is {type_name(argument)}"
        return reason(mismatch.rule, message=message, suggestion=mismatch.suggestion, **operand)
    use = uses.get(id(column))
    if use is not None and use.direct:
        spec = use.column
        stored = DUCKDB_TYPES[spec.stored_type]
        note = _method_note(spec.desensitize)
        described = f"{spec.name} is stored as {stored}" + (f" ({note})" if note else "")
    else:
        described = f"{column.name} is {type_name(column)}"
    if argument is not column:
        described = f"{show(argument)} is {type_name(argument)}; {described}"
    return reason(
        mismatch.rule,
        column=column.name,
        level=use.column.level.value if use is not None else None,
        message=f"{mismatch.problem}: {described}",
        suggestion=mismatch.suggestion,
        **operand,
    )


def _named_column(argument: exp.Expr) -> exp.Column | None:
    """The column an operand's type comes from: one of the same kind, else the first."""
    columns = list(argument.find_all(exp.Column))
    kind = kind_of(argument)
    same = [c for c in columns if kind_of(c) is kind]
    chosen = same or columns
    return chosen[0] if chosen else None


def _method_note(method: str) -> str | None:
    kind, _, argument = method.partition(":")
    if kind == "generalize":
        granularity = argument.partition(":")[0]
        return METHOD_NOTES.get(f"generalize:{granularity}")
    return METHOD_NOTES.get(kind)
