"""License row filters (行范围): a predicate over stored columns, checked at grant time.

Filters are plain comparisons of stored columns with literals; the allow-list
below is deliberately narrower than what a query may contain.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from catalog.schema import DatasetSchema
from core.errors import InvalidInput

DIALECT = "duckdb"

# What a row filter may contain: names, literals, comparisons, logic, simple scalars.
FILTER_NODES: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Column, exp.Identifier, exp.Literal, exp.Null, exp.Boolean, exp.Paren,
        exp.Tuple, exp.Neg, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.And,
        exp.Or, exp.Not, exp.Is, exp.In, exp.Between, exp.Like, exp.ILike, exp.Add,
        exp.Sub, exp.Mul, exp.Div, exp.Cast, exp.DataType, exp.DataTypeParam, exp.Year,
        exp.Month, exp.Day, exp.Lower, exp.Upper, exp.Trim, exp.Substring, exp.Left,
        exp.Right, exp.Length, exp.Coalesce,
    }
)  # fmt: skip


def parse_row_filter(text: str, schemas: Mapping[str, DatasetSchema]) -> exp.Expr:
    """A license's row predicate: must parse, use allowed syntax, and name stored columns."""
    try:
        predicate = sqlglot.parse_one(text, dialect=DIALECT, into=exp.Condition)
    except (ParseError, ValueError) as exc:
        raise InvalidInput(
            f"row filter {text!r} is not a SQL predicate ({exc}); e.g. district = '镇海区'"
        ) from None
    bad = [type(n).__name__ for n in predicate.walk() if type(n) not in FILTER_NODES]
    if bad or predicate.find(exp.Subquery, exp.Select, exp.Table):
        raise InvalidInput(
            f"row filter {text!r} uses syntax not allowed in a filter; use plain comparisons"
        )
    for column in predicate.find_all(exp.Column):
        for schema in schemas.values():
            spec = schema.column(column.name)
            if spec is None or not spec.stored:
                raise InvalidInput(
                    f"row filter names {column.name!r}, not stored in dataset {schema.dataset}; "
                    "use a column every licensed dataset has"
                )
    return predicate
