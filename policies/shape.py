"""The shapes of query the rewriter handles above L1: an aggregate core and layers over it.

The core is one SELECT ... GROUP BY reading datasets directly (joins allowed, no
nesting). Layers are SELECTs that each read only the layer below (a subquery or
CTE), never a dataset, and do not aggregate again: ranking, filtering, ordering
and limiting an aggregated table.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp


@dataclass
class Layers:
    core: exp.Select
    outer: list[tuple[exp.Select, str]]  # outermost first, each with the alias it reads


def clause(select: exp.Expr, name: str) -> exp.Expr | None:
    """A SELECT's clause by name; sqlglot 30 calls `from` and `with` `from_` and `with_`."""
    found = select.args.get(f"{name}_") or select.args.get(name)
    return found if isinstance(found, exp.Expr) else None


def enclosing_select(node: exp.Expr) -> exp.Expr | None:
    parent = node.parent
    while parent is not None and not isinstance(parent, exp.Select):
        parent = parent.parent
    return parent


def _own_nodes(select: exp.Select) -> list[exp.Expr]:
    """Nodes of this SELECT, not of subqueries or CTEs below it."""
    return [n for n in select.walk(prune=lambda n: n is not select and isinstance(n, exp.Query))]


def groups(select: exp.Select) -> bool:
    """Whether this SELECT aggregates rows (a GROUP BY or an aggregate outside a window)."""
    if select.args.get("group"):
        return True
    return any(
        isinstance(n, exp.AggFunc) and not isinstance(n.parent, exp.Window)
        for n in _own_nodes(select)
    )


def _is_core(select: exp.Select) -> bool:
    if clause(select, "with") or not groups(select):
        return False
    nested = (exp.Query, exp.Subquery, exp.Window, exp.Lateral, exp.Unnest)
    return not any(isinstance(n, nested) for n in select.walk() if n is not select)


def _reads_only_its_source(select: exp.Select, source: exp.Expr) -> bool:
    """A layer may hold no query but the one it reads (no scalar subqueries, IN, EXISTS)."""
    allowed = (select, source, source.parent)  # the source and its Subquery wrapper
    return all(
        any(n is a for a in allowed) or not isinstance(n, exp.Query) for n in _own_nodes(select)
    )


def _source(select: exp.Select, ctes: dict[str, exp.Expr]) -> tuple[exp.Expr, str] | None:
    """The one relation a layer reads, if it reads exactly one derived table."""
    from_ = clause(select, "from")
    if from_ is None or select.args.get("joins"):
        return None
    relation = from_.this
    if isinstance(relation, exp.Subquery):
        return relation.this, relation.alias_or_name
    if isinstance(relation, exp.Table) and relation.name.lower() in ctes:
        return ctes[relation.name.lower()], relation.alias_or_name
    return None


def aggregate_layers(tree: exp.Query) -> Layers | None:
    """Split a query into its aggregate core and the layers over it, or None."""
    ctes: dict[str, exp.Expr] = {}
    with_ = clause(tree, "with")
    if with_ is not None:
        ctes = {cte.alias_or_name.lower(): cte.this for cte in with_.expressions}
    current: exp.Expr = tree
    outer: list[tuple[exp.Select, str]] = []
    while isinstance(current, exp.Select):
        if _is_core(current):
            return Layers(current, outer)
        if groups(current):
            return None  # an aggregate nested in a query, or over another aggregate
        found = _source(current, ctes)
        if found is None:
            return None
        source, alias = found
        if isinstance(source, exp.Select) and not _reads_only_its_source(current, source):
            return None
        outer.append((current, alias))
        current = source
    return None
