"""Parameterised SQL templates for interface products: declared public parameters,
bound into the parsed tree (never into the text).

A template names its parameters as placeholders (`:district`). Each is declared as a
public category (an L1 column with declared categories in the catalog) or a bounded
integer; a call may give only those values, and each is placed into the sqlglot tree
as a literal node, so no value can change the query's shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from catalog import DatasetSchema
from core.errors import InvalidInput
from core.levels import Level
from products.reasons import reason

PARAMETER_KINDS = ("category", "int")
DIALECT = "duckdb"


@dataclass(frozen=True)
class Parameter:
    """One declared parameter: a public category of `dataset.column`, or an int in bounds."""

    name: str
    kind: str
    dataset: str | None = None
    column: str | None = None
    min: int | None = None
    max: int | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Parameter:
        try:
            return cls(
                name=str(raw["name"]),
                kind=str(raw["kind"]),
                dataset=raw.get("dataset"),
                column=raw.get("column"),
                min=raw.get("min"),
                max=raw.get("max"),
            )
        except KeyError as error:
            raise InvalidInput.coded("interface_parameter_field", field=error.args[0]) from None

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "category":
            return {"name": self.name, "kind": self.kind, "dataset": self.dataset,
                    "column": self.column}  # fmt: skip
        return {"name": self.name, "kind": self.kind, "min": self.min, "max": self.max}

    def allowed(self, schemas: Mapping[str, DatasetSchema]) -> tuple[str, ...] | None:
        """The category values this parameter may take (None for an int)."""
        if self.kind != "category":
            return None
        schema = schemas.get(self.dataset or "")
        column = schema.column(self.column or "") if schema else None
        if column is None or column.level is not Level.L1 or not column.categories:
            source = f"{self.dataset}.{self.column}"
            refused = InvalidInput.coded(
                "interface_parameter_column", name=self.name, source=source
            )
            rule = reason("template_parameter", name=self.name, source=source)
            raise replace(refused, reasons=[rule])
        return column.categories


def _parse(sql: str) -> exp.Expression:
    try:
        tree = sqlglot.parse_one(sql, read=DIALECT)
    except ParseError as error:
        raise InvalidInput.coded("interface_template_sql", detail=str(error)) from None
    if not isinstance(tree, exp.Select | exp.Union):
        raise InvalidInput.coded("interface_template_select")
    return tree


def check_template(
    sql: str, parameters: list[Parameter], schemas: Mapping[str, DatasetSchema]
) -> None:
    """Refuse a template whose placeholders and declared parameters differ, or whose
    parameters are not public values."""
    used = {p.this for p in _parse(sql).find_all(exp.Placeholder)}
    declared = {p.name for p in parameters}
    if used != declared or len(declared) != len(parameters):
        raise InvalidInput.coded(
            "interface_template_placeholders", used=sorted(used), declared=sorted(declared)
        )
    for parameter in parameters:
        if parameter.kind not in PARAMETER_KINDS:
            raise InvalidInput.coded("interface_parameter_kind", kinds=", ".join(PARAMETER_KINDS))
        if parameter.kind == "int" and not (
            isinstance(parameter.min, int)
            and isinstance(parameter.max, int)
            and parameter.min <= parameter.max
        ):
            raise InvalidInput.coded("interface_parameter_bounds", name=parameter.name)
        parameter.allowed(schemas)


def bind(
    sql: str,
    parameters: list[Parameter],
    values: Mapping[str, Any],
    schemas: Mapping[str, DatasetSchema],
) -> str:
    """The template with each placeholder replaced by its checked value, as SQL."""
    declared = {p.name: p for p in parameters}
    unknown = sorted(set(values) - set(declared))
    missing = sorted(set(declared) - set(values))
    if unknown or missing:
        raise InvalidInput.coded("interface_parameters_mismatch", unknown=unknown, missing=missing)
    tree = _parse(sql)
    for node in list(tree.find_all(exp.Placeholder)):
        node.replace(_literal(declared[node.this], values[node.this], schemas))
    return tree.sql(dialect=DIALECT)


def _literal(
    parameter: Parameter, value: Any, schemas: Mapping[str, DatasetSchema]
) -> exp.Expression:
    allowed = parameter.allowed(schemas)
    if allowed is not None:
        if not isinstance(value, str) or value not in allowed:
            raise InvalidInput.coded(
                "interface_parameter_value",
                name=parameter.name,
                dataset=parameter.dataset,
                column=parameter.column,
            )
        return exp.Literal.string(value)
    assert parameter.min is not None and parameter.max is not None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput.coded("interface_parameter_integer", name=parameter.name)
    if not parameter.min <= value <= parameter.max:
        raise InvalidInput.coded(
            "interface_parameter_range", name=parameter.name, min=parameter.min, max=parameter.max
        )
    return exp.Literal.number(value)
