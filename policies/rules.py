"""The level and role rules of DESIGN's table, as pure functions returning reasons.

L1 may be used anywhere. A query touching anything above L1 must be one
aggregate SELECT the gate can check; inside it, L2 may filter, group and be
aggregated; L3 only as the bare argument of COUNT, SUM or AVG; identifiers only
as equi-join keys or in COUNT(DISTINCT privacy_unit). L4 never reaches here.
"""

from __future__ import annotations

from sqlglot import exp

from catalog.schema import DatasetSchema
from core.errors import Reason
from core.levels import Level, Role
from policies.analysis import DIALECT, Analysis, ColumnUse
from policies.reasons import reason

GATED = {"count", "sum", "avg"}
DECOMPOSABLE_PUBLIC = {"min", "max"}


def _name(use: ColumnUse) -> str:
    return f"{use.dataset}.{use.column.name}"


def level_reasons(analysis: Analysis, max_level: Level) -> list[Reason]:
    reasons = []
    for use in analysis.uses:
        if use.column.level.rank > max_level.rank:
            reasons.append(
                reason(
                    "above_license_level",
                    column=use.column.name,
                    level=use.column.level.value,
                    field=_name(use),
                    column_level=use.column.level.value,
                    max_level=max_level.value,
                )
            )
    return reasons


def _identifier_reason(use: ColumnUse, schema: DatasetSchema) -> Reason | None:
    unit = schema.privacy_unit
    if use.context == "join_key" and _equi_join_key(use):
        return None
    if use.context == "count_distinct" and use.bare and use.column.name == unit:
        return None
    return reason(
        "identifier_use",
        column=use.column.name,
        level=use.column.level.value,
        field=_name(use),
        context=use.context.replace("_", " "),
        unit=unit,
    )


def _equi_join_key(use: ColumnUse) -> bool:
    """`a.id = b.id` with both sides bare columns, directly in ON or in an AND of them."""
    node = use.node
    parent = node.parent if node is not None else None
    if not isinstance(parent, exp.EQ):
        return False
    if not (isinstance(parent.left, exp.Column) and isinstance(parent.right, exp.Column)):
        return False
    above = parent.parent
    while isinstance(above, exp.And | exp.Paren):
        above = above.parent
    return isinstance(above, exp.Join)


def _sensitive_reason(use: ColumnUse) -> Reason | None:
    name, level = use.column.name, use.column.level.value
    if use.context == "aggregate" and use.function in GATED and use.bare:
        if use.function != "count" and use.column.role is not Role.MEASURE:
            return reason(
                "sum_of_non_measure", column=name, level=level, field=_name(use), name=name
            )
        return None
    if use.context == "aggregate" and not use.bare:
        return reason("l3_inside_expression", column=name, level=level, field=_name(use), name=name)
    if use.context in ("aggregate", "count_distinct"):
        return reason(
            "l3_aggregate_not_allowed",
            column=name,
            level=level,
            field=_name(use),
            function=(use.function or "").upper(),
            name=name,
        )
    if use.context == "filter":
        return reason("l3_in_filter", column=name, level=level, field=_name(use))
    measure = use.column.role is Role.MEASURE
    return reason(
        f"l3_{use.context}",
        column=name,
        level=level,
        field=_name(use),
        aggregate=f"AVG({name}) / SUM({name})" if measure else f"COUNT({name})",
    )


def _internal_reason(use: ColumnUse) -> Reason | None:
    if use.context != "aggregate" and use.context != "count_distinct":
        return None
    name = use.column.name
    if use.context == "count_distinct" or use.function not in GATED or not use.bare:
        return reason(
            "l2_aggregate_not_allowed", column=name, level="L2", field=_name(use), name=name
        )
    if use.function != "count" and use.column.role is not Role.MEASURE:
        return reason("sum_of_non_measure", column=name, level="L2", field=_name(use), name=name)
    return None


def _unit_columns(core: exp.Select, schemas: dict[str, DatasetSchema]) -> dict[str, str]:
    """Alias → privacy-unit column name, for every dataset scanned by the core."""
    return {
        t.alias_or_name: schemas[t.name.lower()].privacy_unit
        for t in core.find_all(exp.Table)
        if t.name.lower() in schemas
    }


def join_reasons(core: exp.Select, schemas: dict[str, DatasetSchema]) -> list[Reason]:
    """Each joined dataset must be linked unit to unit (a.unit = b.unit), inner or left.

    Otherwise rows of one unit could be spread over, or counted as, many units:
    a self-join on a dimension makes one enterprise look like a crowd.
    """
    units = _unit_columns(core, schemas)
    reasons = []
    for join in core.args.get("joins") or []:
        table = join.this
        alias = table.alias_or_name if isinstance(table, exp.Table) else ""
        side = (join.args.get("side") or "").upper()
        linked = any(
            isinstance(eq.left, exp.Column)
            and isinstance(eq.right, exp.Column)
            and {eq.left.table, eq.right.table} & {alias}
            and len({eq.left.table, eq.right.table}) == 2
            and all(units.get(c.table) == c.name for c in (eq.left, eq.right))
            for eq in (join.args.get("on") or exp.true()).find_all(exp.EQ)
        )
        if side in ("RIGHT", "FULL") or not linked:
            reasons.append(reason("join_on_units", table=table.sql(DIALECT)))
    return reasons


def _row_level_reasons(analysis: Analysis) -> list[Reason]:
    """A query over non-public columns that does not aggregate them in one SELECT."""
    reasons = []
    for use in analysis.uses:
        if use.column.level.rank == 1:
            continue
        if use.column.role is Role.IDENTIFIER:
            suggestion = "use it only as a join key or in COUNT(DISTINCT ...)"
        elif use.column.role is Role.MEASURE:
            suggestion = f"aggregate it with AVG({use.column.name}) and GROUP BY a public column"
        else:
            suggestion = "use it as a GROUP BY key with COUNT(*), or drop it"
        reasons.append(
            reason(
                "row_level_output",
                column=use.column.name,
                level=use.column.level.value,
                suggestion=suggestion,
                field=_name(use),
                column_level=use.column.level.value,
            )
        )
    return reasons


def column_reasons(analysis: Analysis, schemas: dict[str, DatasetSchema]) -> list[Reason]:
    """Reasons to deny per column; empty when every use obeys its level and role."""
    if analysis.public_only:
        return []
    tree = analysis.tree
    assert tree is not None
    if analysis.layers is None:
        if any(isinstance(n, exp.AggFunc) for n in tree.walk()):
            return [reason("shape_not_supported")]
        return _dedupe(_row_level_reasons(analysis))
    reasons: list[Reason | None] = []
    core_uses = analysis.core_uses()
    if len(core_uses) != len(analysis.direct_uses()):
        reasons.append(reason("read_outside_aggregate"))
    for use in core_uses:
        if use.column.role is Role.IDENTIFIER:
            reasons.append(_identifier_reason(use, schemas[use.dataset]))
        elif use.column.level is Level.L3:
            reasons.append(_sensitive_reason(use))
        elif use.column.level is Level.L2:
            reasons.append(_internal_reason(use))
    reasons.extend(join_reasons(analysis.layers.core, schemas))
    if analysis.layers.core.find(exp.Filter):
        reasons.append(reason("aggregate_filter"))
    return _dedupe([r for r in reasons if r is not None])


def _dedupe(reasons: list[Reason]) -> list[Reason]:
    unique: dict[tuple[str, str], Reason] = {}
    for found in reasons:
        unique.setdefault((found.rule, found.message), found)
    return list(unique.values())
