"""Which rows a DP model may train on: a pure check of `fit()`'s SQL and columns.

A model's guarantee is per row, so the rows must be one per privacy unit and each
value must be bounded: the SQL may only be `SELECT ... FROM <dataset> [WHERE ...]`
over one licensed dataset (no join, grouping, subquery, window or set operation);
features (and a regression's label) must be numeric measures with schema bounds;
a classifier's label must be a declared category list or a 0/1 column; nothing may
name an identifier or a column above the licence's level. The plan's SQL is
rebuilt from the checked tree and keeps one row per privacy unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

from catalog.schema import ColumnSpec, DatasetSchema
from core.errors import PolicyDenied
from core.levels import Level, Role
from policies.reasons import reason

__all__ = ["CLASSIFIERS", "TrainingPlan", "plan_training"]

CLASSIFIERS = ("logistic_regression", "gaussian_nb")
_NUMERIC = ("integer", "double", "float", "bigint", "decimal")
_FORBIDDEN = (exp.Join, exp.Group, exp.Having, exp.Window, exp.Union, exp.Intersect,
              exp.Except, exp.Subquery, exp.AggFunc, exp.Limit, exp.Distinct)  # fmt: skip


@dataclass(frozen=True)
class TrainingPlan:
    """The checked training request: its dataset, SQL, bounds and highest input level."""

    dataset: str
    sql: str
    bounds: dict[str, list[float]]
    level: Level
    columns: list[str]


def _deny(
    rule: str, column: str | None = None, message: str | None = None, **figures: Any
) -> PolicyDenied:
    refusal = reason(rule, column=column, message=message, **figures)
    return PolicyDenied(f"the model cannot be trained: {refusal.message}", reasons=[refusal])


def _single_table(tree: exp.Expr, datasets: tuple[str, ...]) -> str:
    if not isinstance(tree, exp.Select):
        raise _deny("training_shape")
    for kind in _FORBIDDEN:
        if tree.find(kind) is not None:
            what = kind.__name__.upper()
            raise _deny("training_shape", message=f"{what} is not allowed in a training query")
    tables = list(tree.find_all(exp.Table))
    if len(tables) != 1 or len(list(tree.find_all(exp.Select))) != 1:
        raise _deny("training_shape", message="a training query reads exactly one dataset")
    name = tables[0].name.lower()
    if name not in datasets:
        raise _deny("dataset_not_licensed", dataset=name)
    return name


def _column(schema: DatasetSchema, name: str, scope_level: Level) -> ColumnSpec:
    column = schema.column(name)
    if column is None or not column.stored:
        raise _deny("unknown_column", name, field=name, table=schema.dataset)
    if column.role is Role.IDENTIFIER or column.name == schema.privacy_unit:
        raise _deny("identifier", name, name=name)
    if column.level.rank > scope_level.rank:
        raise _deny("level", name, name=name, column_level=column.level.value)
    return column


def _bounded(column: ColumnSpec) -> list[float]:
    if column.bounds is None or column.stored_type.lower() not in _NUMERIC:
        raise _deny("unbounded", column.name, name=column.name)
    return [float(column.bounds[0]), float(column.bounds[1])]


def _label_ok(model: str, column: ColumnSpec) -> list[float] | None:
    if model in CLASSIFIERS:
        binary = column.bounds is not None and tuple(column.bounds) == (0, 1)
        if column.categories is None and not binary:
            raise _deny("label_classes", column.name, name=column.name)
        return None
    return _bounded(column)


def plan_training(
    sql: str,
    schemas: Mapping[str, DatasetSchema],
    datasets: tuple[str, ...],
    scope_level: Level,
    model: str,
    features: list[str],
    label: str | None,
) -> TrainingPlan:
    """Check a training request; the plan, or PolicyDenied with the reason."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise _deny("syntax", problem=str(exc).splitlines()[0]) from None
    name = _single_table(tree, datasets)
    schema = schemas[name]
    if model == "kmeans" and label is not None:
        raise _deny("label", message="kmeans takes no label", model=model)
    if model != "kmeans" and label is None:
        raise _deny("label", message=f"{model} needs a label", model=model)
    if not features or len(set(features)) != len(features) or label in features:
        raise _deny("features")
    bounds = {f: _bounded(_column(schema, f, scope_level)) for f in features}
    used = [schema.column(f) for f in features]
    if label is not None:
        label_column = _column(schema, label, scope_level)
        label_bounds = _label_ok(model, label_column)
        if label_bounds is not None:
            bounds[label] = label_bounds
        used.append(label_column)
    where = tree.args.get("where")
    for ref in where.find_all(exp.Column) if where is not None else []:
        used.append(_column(schema, ref.name, scope_level))
    level = max((c.level for c in used if c is not None), key=lambda lv: lv.rank)
    columns = [*features, *([label] if label else [])]
    rebuilt = exp.select(*[exp.column(c, quoted=True) for c in columns]).from_(
        exp.table_(name, quoted=True)
    )
    if where is not None:
        rebuilt = rebuilt.where(where.this.copy())
    unit = exp.column(schema.privacy_unit, quoted=True)
    # which of a unit's rows is kept does not matter: each unit adds at most one row
    one_per_unit = f"ROW_NUMBER() OVER (PARTITION BY {unit.sql('duckdb')}) = 1"
    rebuilt = rebuilt.qualify(one_per_unit, dialect="duckdb")
    return TrainingPlan(name, rebuilt.sql("duckdb"), bounds, level, columns)
