"""The license row filter inside a query: every scan of a licensed dataset wrapped in it.

The filter wraps each scan in its own subquery, so no condition in the operator's
WHERE (an `OR 1 = 1`, say) can widen it.
"""

from __future__ import annotations

from sqlglot import exp


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
