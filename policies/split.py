"""Splitting a query into its private core and public post-processing (two phases).

The **private core** is the one aggregating SELECT that reads dataset rows: scans,
joins, WHERE, GROUP BY and the aggregates. It runs in the sandbox; the gate and
the noise act on its table. Everything the operator wrote above it, and the
core's own HAVING, ORDER BY, DISTINCT, LIMIT and OFFSET, is **post-processing**:
it runs afterwards over the released core table only (named `__released`), so
no window, sort, filter or arithmetic can ever see an exact value. Differential
privacy and disclosure control are both closed under such post-processing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from core.errors import Reason
from policies.guard import guard_values
from policies.reasons import reason
from policies.shape import Layers, clause

RELEASED = "__released"
_CORE_MARK = "sluice_core"
# Clauses of the core that order, filter or cut its groups: they act on aggregate
# values, so they move to post-processing, where only released values exist.
POST_CLAUSES = ("having", "order", "limit", "offset", "distinct", "qualify")


@dataclass
class Split:
    """The core to rewrite and run privately, and the query to run over its release."""

    core: exp.Select
    post: exp.Query | None = None  # None: the released core table is the output
    reasons: list[Reason] = field(default_factory=list)


def split_query(tree: exp.Query, layers: Layers) -> Split:
    """Cut `tree` at its aggregate core (see policies.shape for what a core is)."""
    core_clauses = {name: clause(layers.core, name) for name in POST_CLAUSES}
    core = layers.core.copy()
    for name in POST_CLAUSES:
        core.set(name, None)
        core.set(f"{name}_", None)
    core = guard_values(core)
    if not layers.outer and not any(core_clauses.values()):
        return Split(core)
    reasons: list[Reason] = []
    over_release = _core_post(core, core_clauses, reasons)
    if not layers.outer:
        return Split(core, over_release, reasons)
    layers.core.meta[_CORE_MARK] = True
    try:
        post = tree.copy()
    finally:
        layers.core.meta.pop(_CORE_MARK, None)
    marked = [s for s in post.find_all(exp.Select) if s.meta.pop(_CORE_MARK, None)]
    assert len(marked) == 1, "the core appears once in the query"
    marked[0].replace(over_release)
    reasons += _reads_only_release(post)
    return Split(core, post, reasons)


def _core_post(
    core: exp.Select, clauses: dict[str, exp.Expr | None], reasons: list[Reason]
) -> exp.Select:
    """`SELECT <core's output names> FROM __released` with the core's own ordering and
    filtering clauses over output names. An aggregate or key they use that is not an
    output becomes a hidden output of the core (gated and noised like any other), which
    post-processing reads and does not pass on."""
    names = [p.alias_or_name for p in core.selects]
    outputs = {p.unalias(): name for p, name in zip(core.selects, names, strict=True)}
    post = exp.select(*[exp.column(n) for n in names]).from_(exp.table_(RELEASED))
    for name, part in clauses.items():
        if part is None:
            continue
        if name in ("limit", "offset", "distinct"):
            post.set(name, part.copy())
            continue
        if name == "qualify":
            reasons.append(reason("qualify_in_core"))
            continue
        mapped = _over_outputs(part.copy(), core, outputs, names)
        if isinstance(mapped, exp.Having):  # over released rows, a group filter is a row filter
            mapped = exp.Where(this=mapped.this)
        post.set("where" if isinstance(mapped, exp.Where) else name, mapped)
    return post


def _over_outputs(
    node: exp.Expr, core: exp.Select, outputs: dict[exp.Expr, str], names: list[str]
) -> exp.Expr:
    """The clause with each aggregate, key or output expression replaced by an output name."""

    def swap(child: exp.Expr) -> exp.Expr:
        found = outputs.get(child)
        if found is not None:
            return exp.column(found)
        if isinstance(child, exp.Column) and not child.table and child.name in names:
            return child
        if isinstance(child, exp.AggFunc | exp.Column):
            hidden = f"_hidden_{len(outputs) + 1}"
            while hidden in names:
                hidden = "_" + hidden
            core.select(child.copy().as_(hidden), copy=False)
            outputs[child.copy()] = hidden
            return exp.column(hidden)
        return child

    return node.transform(swap, copy=False)


def _reads_only_release(post: exp.Query) -> list[Reason]:
    """Post-processing may read the released table and its own CTEs, nothing else."""
    ctes = {cte.alias_or_name.lower() for cte in post.find_all(exp.CTE)}
    stray = sorted(
        t.name
        for t in post.find_all(exp.Table)
        if t.name.lower() != RELEASED and t.name.lower() not in ctes
    )
    if not stray:
        return []
    return [reason("post_reads_data", table=stray[0])]
