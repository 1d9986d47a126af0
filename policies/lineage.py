"""Lineage of a checked query: which dataset columns flow into each output, and how each
is used (projected, grouped, aggregated by what, filtered, joined). Shown to reviewers."""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from policies.analysis import Analysis, ColumnUse


def _projection_of(node: exp.Expr, projections: list[exp.Expr]) -> exp.Expr | None:
    current: exp.Expr | None = node
    while current is not None:
        if any(current is p for p in projections):
            return current
        current = current.parent
    return None


def _how(use: ColumnUse) -> str:
    if use.context in ("aggregate", "count_distinct") and use.function:
        distinct = " distinct" if use.context == "count_distinct" else ""
        return f"aggregated by {use.function}{distinct}"
    return use.context.replace("_", " ")


def lineage(analysis: Analysis) -> dict[str, Any]:
    if analysis.tree is None:
        return {"outputs": {}, "uses": []}
    projections = list(analysis.tree.selects)
    outputs: dict[str, set[str]] = {p.alias_or_name: set() for p in projections}
    for use in analysis.uses:
        top = _projection_of(use.node, projections) if use.node is not None else None
        if top is not None:
            outputs[top.alias_or_name].add(f"{use.dataset}.{use.column.name}")
    uses = sorted(
        {
            (f"{u.dataset}.{u.column.name}", u.column.level.value, _how(u))
            for u in analysis.direct_uses()
        }
    )
    return {
        "outputs": {name: sorted(sources) for name, sources in outputs.items()},
        "uses": [{"column": c, "level": level, "how": how} for c, level, how in uses],
    }
