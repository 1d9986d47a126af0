"""License row filters: parsed and checked at grant time, injected into every scan.

The filter wraps each scan of a licensed dataset in its own subquery, so no
condition in the operator's WHERE (an `OR 1 = 1`, say) can widen it.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from catalog.schema import DatasetSchema
from core.errors import InvalidInput
from policies.allowlist import is_allowed
from policies.analysis import DIALECT


def parse_row_filter(text: str, schemas: Mapping[str, DatasetSchema]) -> exp.Expr:
    """A license's row predicate: must parse, use allowed syntax, and name stored columns."""
    try:
        predicate = sqlglot.parse_one(text, dialect=DIALECT, into=exp.Condition)
    except (ParseError, ValueError) as exc:
        raise InvalidInput(
            f"row filter {text!r} is not a SQL predicate ({exc}); e.g. district = '镇海区'"
        ) from None
    bad = [type(n).__name__ for n in predicate.walk() if not is_allowed(n)]
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


def inject_row_filter(tree: exp.Query, datasets: set[str], predicate: exp.Expr | None) -> exp.Query:
    """Wrap every scan of a licensed dataset in a filtered subquery, so no WHERE can widen it."""
    if predicate is None:
        return tree

    def wrap(node: exp.Expr) -> exp.Expr:
        if (
            isinstance(node, exp.Table)
            and node.name.lower() in datasets
            and not node.args.get("db")
        ):
            alias = node.alias or node.name
            inner = exp.select("*").from_(exp.table_(node.name)).where(predicate.copy())
            return inner.subquery(alias)
        return node

    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    filtered = datasets - ctes
    if not filtered:
        return tree
    result = tree.transform(wrap)
    assert isinstance(result, exp.Query)
    return result
