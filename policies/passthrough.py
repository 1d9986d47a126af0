"""Carrying companions through the layers over an aggregate core.

A layer may rename, rank, filter, order and limit an aggregated table; it gets
`__n`, `__units` and each passed-through column's companions under the new names. It may
not act on a noisy L3 value (filter, sort, compute or deduplicate on it): that
would use the exact value before noise is added.
"""

from __future__ import annotations

from dataclasses import replace

from sqlglot import exp

from core.errors import Reason
from policies.rewrite import OutputCell, Rewrite, exact_value_reason, noisy
from policies.shape import Layers

COMPANION_PREFIXES = ("__top1__", "__top2__", "__abs__", "__sum__", "__cnt__")
AGGREGATES = ("count", "sum", "avg")


def _refs(node: exp.Expr | None, names: set[str]) -> set[str]:
    if node is None:
        return set()
    return {c.name for c in node.find_all(exp.Column) if c.name in names}


def _level(names: set[str], cells: dict[str, OutputCell]) -> OutputCell | None:
    ranked = sorted((cells[n] for n in names), key=lambda c: c.level.rank)
    return ranked[-1] if ranked else None


class _Layer:
    def __init__(self, layer: exp.Select, alias: str, cells: dict[str, OutputCell]):
        self.layer, self.alias, self.cells = layer, alias, cells
        self.noisy = {name for name, cell in cells.items() if noisy(cell)}
        self.reasons: list[Reason] = []
        self.out: dict[str, OutputCell] = {}

    def projection(self, item: exp.Expr) -> list[exp.Expr]:
        name, body = item.alias_or_name, item.unalias()
        if isinstance(body, exp.Column) and body.name in self.cells:
            source = self.cells[body.name]
            self.out[name] = replace(source, column=name)
            carried = [item]
            if source.kind in ("sum", "avg"):
                for prefix in COMPANION_PREFIXES:
                    column = exp.column(prefix + body.name, table=self.alias)
                    carried.append(column.as_(prefix + name))
            return carried
        touched = _refs(body, self.noisy)
        if touched:
            self.reasons.extend(exact_value_reason(n) for n in sorted(touched))
            return []
        referenced = _refs(body, set(self.cells))
        strongest = _level(referenced, self.cells)
        aggregated = any(self.cells[n].kind in AGGREGATES for n in referenced)
        level = strongest.level if strongest else self.cells[next(iter(self.cells))].level
        self.out[name] = OutputCell(name, "count" if aggregated else "group_key", level)
        return [item]

    def build(self, inner: exp.Query) -> exp.Select:
        new = self.layer.copy()
        new.set("with_", None)
        source = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(self.alias)))
        new.set("from_", exp.From(this=source))
        projections = [p for item in new.selects for p in self.projection(item)]
        for companion in ("__n", "__units"):
            projections.append(exp.column(companion, table=self.alias).as_(companion))
        new.set("expressions", projections)
        noisy_outputs = {name for name, cell in self.out.items() if noisy(cell)}
        for part in ("where", "qualify", "order"):
            touched = _refs(new.args.get(part), self.noisy | noisy_outputs)
            self.reasons.extend(exact_value_reason(n) for n in sorted(touched))
        if new.args.get("distinct") and noisy_outputs:
            self.reasons.append(exact_value_reason(", ".join(sorted(noisy_outputs))))
        return new


def wrap_layers(core: Rewrite, layers: Layers) -> Rewrite:
    """The core's rewrite, wrapped in each outer layer from the innermost out."""
    tree: exp.Query = core.tree
    cells = {cell.column: cell for cell in core.cells}
    reasons = list(core.reasons)
    for layer, alias in reversed(layers.outer):
        step = _Layer(layer, alias, cells)
        tree = step.build(tree)
        reasons += step.reasons
        cells = step.out
    notes = core.notes + ["companions carried through the outer queries"]
    return Rewrite(tree, list(cells.values()), notes, reasons)
