"""Reading a query: parse once, refuse what is not a plain SELECT, resolve every column.

Every check works on sqlglot's tree; SQL text is never inspected. The result
says which dataset columns the query touches, and where (projected, grouped,
aggregated and by what, filtered, joined), for the rules in `rules.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError
from sqlglot.optimizer.merge_subqueries import merge_subqueries
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from catalog.schema import ColumnSpec, DatasetSchema
from catalog.storage import duckdb_types
from core.errors import InvalidInput, QueryTooComplex, Reason
from policies.allowlist import function_name, is_allowed
from policies.reasons import reason
from policies.shape import Layers, aggregate_layers, enclosing_select

DIALECT = "duckdb"


@dataclass(frozen=True)
class ColumnUse:
    """One reference to a dataset column and the place it appears in."""

    dataset: str
    column: ColumnSpec
    context: str  # projected | group_key | filter | join_key | order | aggregate | count_distinct
    function: str | None = None  # the aggregate around it, when context == "aggregate"
    bare: bool = True  # the aggregate's argument is the column itself, not an expression of it
    direct: bool = True  # read from the dataset here, not traced through a derived table
    node: exp.Column | None = field(default=None, compare=False, repr=False)


@dataclass
class Analysis:
    tree: exp.Query | None  # None when the statement is not a query at all
    datasets: list[str]
    uses: list[ColumnUse]
    layers: Layers | None  # an aggregate core and the SELECTs over it, if that is the shape
    reasons: list[Reason] = field(default_factory=list)

    @property
    def public_only(self) -> bool:
        return all(use.column.level.rank == 1 for use in self.uses)

    def core_uses(self) -> list[ColumnUse]:
        """Uses inside the aggregate core: the only place dataset columns are read."""
        if self.layers is None:
            return []
        core = self.layers.core
        return [u for u in self.direct_uses() if u.node and enclosing_select(u.node) is core]

    def direct_uses(self) -> list[ColumnUse]:
        return [u for u in self.uses if u.direct]


def _malformed(exc: ParseError) -> InvalidInput:
    """SQL the parser refused, at the place it names when it names one."""
    first = exc.errors[0] if exc.errors else {}
    detail = str(first.get("description", exc))
    if not first:
        return InvalidInput.coded("policy_sql_malformed", detail=detail)
    line, column = first.get("line"), first.get("col")
    return InvalidInput.coded("policy_sql_malformed_at", line=line, column=column, detail=detail)


def parse(sql: str) -> tuple[exp.Query | None, list[Reason]]:
    """The one SELECT statement (CTEs allowed), or reasons to deny anything else.

    SQL that does not parse is InvalidInput: there is nothing to decide on.
    """
    try:
        statements = [s for s in sqlglot.parse(sql, dialect=DIALECT) if s is not None]
    except ParseError as exc:
        raise _malformed(exc) from None
    except RecursionError:  # the parser recurses per nesting level: deep input is refused
        raise QueryTooComplex.coded("policy_nested_too_deeply") from None
    if not statements:
        raise InvalidInput.coded("policy_sql_empty")
    if len(statements) != 1:
        return None, [reason("one_statement", count=len(statements))]
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        return None, [reason("select_only", kind=type(tree).__name__.upper())]
    return tree, []


def _declared_name(node: exp.Expr) -> str:
    """The name a query gives to an output, a table or a CTE ("" for other nodes)."""
    if isinstance(node, exp.Alias):
        return node.alias
    return node.name if isinstance(node, exp.TableAlias) else ""


def structural_reasons(tree: exp.Query, licensed: set[str], known: set[str]) -> list[Reason]:
    """Syntax the domain never runs, tables outside the license, unknown functions."""
    reasons: list[Reason] = []
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for node in tree.walk():
        if isinstance(node, exp.With) and node.args.get("recursive"):
            reasons.append(reason("no_recursion"))
        elif _declared_name(node).startswith("__"):
            # the engine's own names (companions, __released, __per_unit) start with __
            reasons.append(reason("reserved_name", name=_declared_name(node)))
        elif isinstance(node, exp.CTE) and node.alias_or_name.lower() in known:
            # a CTE named after a dataset makes a name mean two tables: lineage, levels and
            # the reader would have to guess which one a column comes from
            reasons.append(reason("cte_shadows_dataset", name=node.alias_or_name))
        elif isinstance(node, exp.TableAlias) and node.columns:
            reasons.append(reason("no_column_aliases", table=node.sql(DIALECT)))
        elif isinstance(node, exp.TableSample):
            reasons.append(reason("no_sampling"))
        elif isinstance(node, exp.Table):
            reasons.extend(_table_reasons(node, licensed, known, ctes))
        elif not is_allowed(node):
            name = function_name(node)
            kind = "function" if isinstance(node, exp.Func) else "syntax"
            reasons.append(reason("function_not_allowed", kind=kind, name=name))
    return _unique(reasons)


def _table_reasons(
    node: exp.Table, licensed: set[str], known: set[str], ctes: set[str]
) -> list[Reason]:
    if not isinstance(node.this, exp.Identifier):
        return [reason("no_table_functions", name=function_name(node.this))]
    if node.args.get("db") or node.args.get("catalog"):
        return [reason("no_qualified_tables", table=node.sql(DIALECT))]
    name = node.name.lower()
    if name in ctes:
        return []
    if name not in known:
        return [reason("unknown_dataset", dataset=node.name)]
    if name not in licensed:
        return [reason("dataset_not_licensed", dataset=name)]
    return []


def _unique(reasons: list[Reason]) -> list[Reason]:
    seen: dict[tuple[str, str], Reason] = {}
    for found in reasons:
        seen.setdefault((found.rule, found.message), found)
    return list(seen.values())


def qualify_tree(tree: exp.Query, schemas: Mapping[str, DatasetSchema]) -> exp.Query:
    """Qualify every column with its table and expand `*`, over stored columns only."""
    mapping: dict[str, object] = {name: duckdb_types(s) for name, s in schemas.items()}
    try:
        qualified = qualify(
            tree.copy(),
            schema=mapping,
            dialect=DIALECT,
            quote_identifiers=False,
            validate_qualify_columns=True,
            identify=False,
        )
    except OptimizeError as exc:
        raise InvalidInput.coded("policy_columns_unresolved", detail=str(exc)) from None
    assert isinstance(qualified, exp.Query)
    return qualified


def unstored_reasons(tree: exp.Query, schemas: Mapping[str, DatasetSchema]) -> list[Reason]:
    """Columns the catalog knows but the store never holds: L4 and dropped ones."""
    reasons: list[Reason] = []
    names = {c.name.lower() for c in tree.find_all(exp.Column)}
    for schema in schemas.values():
        for column in schema.columns:
            if column.name not in names or column.stored:
                continue
            if column.level.rank == 4:
                reasons.append(
                    reason(
                        "l4_denied",
                        column=column.name,
                        level="L4",
                        dataset=schema.dataset,
                        name=column.name,
                    )
                )
            else:
                reasons.append(
                    reason(
                        "column_dropped",
                        column=column.name,
                        level=column.level.value,
                        dataset=schema.dataset,
                        name=column.name,
                    )
                )
    return reasons


def _source_columns(column: exp.Column, scope: Scope) -> list[tuple[str, str]]:
    """Follow a column through derived tables and CTEs down to (dataset, column) pairs."""
    source = scope.sources.get(column.table)
    if isinstance(source, exp.Table):
        return [(source.name.lower(), column.name.lower())]
    if isinstance(source, Scope):
        found: list[tuple[str, str]] = []
        for projection in (
            source.expression.selects if isinstance(source.expression, exp.Select) else []
        ):
            if projection.alias_or_name.lower() == column.name.lower():
                for inner in projection.find_all(exp.Column):
                    found.extend(_source_columns(inner, source))
        if isinstance(source.expression, exp.SetOperation):
            for branch in source.set_operation_scopes or []:
                assert isinstance(branch.expression, exp.Query)
                for projection in branch.expression.selects:
                    if projection.alias_or_name.lower() == column.name.lower():
                        for inner in projection.find_all(exp.Column):
                            found.extend(_source_columns(inner, branch))
        return found
    return []


def _context(column: exp.Column) -> tuple[str, str | None, bool]:
    """Where a column sits in its SELECT: clause, enclosing aggregate, and bareness."""
    node: exp.Expr = column
    aggregate: exp.Expr | None = None
    bare = True
    while node.parent is not None:
        parent = node.parent
        if isinstance(parent, exp.AggFunc | exp.Window) and aggregate is None:
            aggregate = parent
            bare = node is column or (
                isinstance(node, exp.Distinct) and node.expressions == [column]
            )
        if isinstance(parent, exp.Where):
            return "filter", None, bare
        if isinstance(parent, exp.Join):
            return "join_key", None, bare
        if isinstance(parent, exp.Group):
            return "group_key", None, bare
        if isinstance(parent, exp.Order) and aggregate is None:
            return "order", None, bare
        if isinstance(parent, exp.Select) or isinstance(parent, exp.Having) and aggregate is None:
            break
        node = parent
    if aggregate is None:
        return "projected", None, bare
    name = function_name(aggregate)
    if isinstance(aggregate, exp.Count) and isinstance(aggregate.this, exp.Distinct):
        return "count_distinct", name, bare
    return "aggregate", name, bare


def unresolved_reasons(tree: exp.Query, schemas: Mapping[str, DatasetSchema]) -> list[Reason]:
    """Fail closed: every column read from a dataset must be one of its stored columns."""
    reasons = []
    for scope in traverse_scope(tree):
        outputs = (
            {s.alias_or_name for s in scope.expression.selects}
            if isinstance(scope.expression, exp.Select)
            else set()
        )
        for column in scope.columns:
            source = scope.sources.get(column.table)
            if isinstance(source, exp.Table):
                schema = schemas.get(source.name.lower())
                spec = schema.column(column.name) if schema else None
                if spec is None or not spec.stored:
                    reasons.append(
                        reason("unknown_column", field=column.sql(DIALECT), table=source.name)
                    )
            elif source is None and not (column.name in outputs and not column.table):
                reasons.append(
                    reason(
                        "unknown_column",
                        message=f"{column.sql(DIALECT)} cannot be resolved",
                        suggestion="qualify it with a table that has it",
                        field=column.sql(DIALECT),
                        table=", ".join(sorted(scope.sources)),
                    )
                )
    return _unique(reasons)


def resolve_uses(tree: exp.Query, schemas: Mapping[str, DatasetSchema]) -> list[ColumnUse]:
    uses: list[ColumnUse] = []
    for scope in traverse_scope(tree):
        for column in scope.columns:
            context, function, bare = _context(column)
            direct = isinstance(scope.sources.get(column.table), exp.Table)
            for dataset, name in _source_columns(column, scope):
                spec = schemas[dataset].column(name) if dataset in schemas else None
                if spec is not None:
                    uses.append(ColumnUse(dataset, spec, context, function, bare, direct, column))
    return uses


def analyse(sql: str, schemas: Mapping[str, DatasetSchema], licensed: set[str]) -> Analysis:
    """Parse, check structure, resolve columns. Denial reasons are collected, not raised."""
    parsed, refused = parse(sql)
    if parsed is None:
        return Analysis(None, [], [], None, refused)
    tree = parsed
    reasons = structural_reasons(tree, licensed, set(schemas))
    used = {t.name.lower() for t in tree.find_all(exp.Table) if t.name.lower() in schemas}
    relevant = {name: schemas[name] for name in used}
    reasons += unstored_reasons(tree, relevant)
    if reasons:
        return Analysis(tree, sorted(used), [], None, reasons)
    # row-level subqueries and CTEs are merged into the query that reads them, so each
    # column is judged where it really acts (an L3 filter inside a CTE is still a filter)
    qualified = merge_subqueries(qualify_tree(tree, relevant))
    assert isinstance(qualified, exp.Query)
    # checked again after qualifying: resolution can turn a name into another node
    # (a table name used as a column becomes a whole-row struct)
    reasons = structural_reasons(qualified, licensed, set(schemas)) + unresolved_reasons(
        qualified, relevant
    )
    if reasons:
        return Analysis(qualified, sorted(used), [], None, reasons)
    uses = resolve_uses(qualified, relevant)
    return Analysis(qualified, sorted(used), uses, aggregate_layers(qualified), [])
