"""License row filters (行范围): one predicate per dataset over its stored columns.

Filters are plain comparisons of stored columns with literals; the allow-list
below is deliberately narrower than what a query may contain. A parsed filter
is what `catalog.filtered` applies to the data a job may read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from catalog.schema import DatasetSchema
from core.errors import InvalidInput, Step

DIALECT = "duckdb"
EXAMPLE = "enterprise_utilities:district = '镇海区'"

# What a row filter may contain: names, literals, comparisons, logic, simple scalars.
FILTER_NODES: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Column, exp.Identifier, exp.Literal, exp.Null, exp.Boolean, exp.Paren,
        exp.Tuple, exp.Neg, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.And,
        exp.Or, exp.Not, exp.Is, exp.In, exp.Between, exp.Like, exp.ILike, exp.Add,
        exp.Sub, exp.Mul, exp.Div, exp.Cast, exp.DataType, exp.DataTypeParam, exp.Year,
        exp.Month, exp.Day, exp.Lower, exp.Upper, exp.Trim, exp.Substring, exp.Left,
        exp.Right, exp.Length, exp.Coalesce,
    }
)  # fmt: skip


def parse_row_filter(text: str, schema: DatasetSchema) -> exp.Expr:
    """One dataset's row predicate: it must parse, use allowed syntax and name only
    that dataset's stored columns. Columns come back spelled as the schema spells them."""
    try:
        predicate = sqlglot.parse_one(text, dialect=DIALECT, into=exp.Condition)
    except (SqlglotError, ValueError, RecursionError) as exc:  # tokenizer errors too
        raise InvalidInput.coded(
            "catalog_filter_not_predicate",
            text=text[:200],
            dataset=schema.dataset,
            detail=str(exc)[:200],
        ) from None
    bad = sorted({type(n).__name__ for n in predicate.walk() if type(n) not in FILTER_NODES})
    if bad:
        raise InvalidInput.coded(
            "catalog_filter_syntax", text=text[:200], dataset=schema.dataset, nodes=", ".join(bad)
        )
    if predicate.find(exp.Subquery, exp.Select, exp.Table):
        raise InvalidInput.coded("catalog_filter_subquery", text=text[:200], dataset=schema.dataset)

    def canonical(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Column):
            return node
        spec = schema.column(node.name)
        qualifier = node.table
        if (qualifier and qualifier.lower() != schema.dataset) or spec is None or not spec.stored:
            stored = ", ".join(c.name for c in schema.stored_columns)
            raise InvalidInput.coded(
                "catalog_filter_column",
                dataset=schema.dataset,
                column=node.sql(DIALECT)[:100],
                suggestion=f"filter on one of its stored columns: {stored}",
            )
        return exp.column(spec.name)

    return predicate.transform(canonical)


def parse_row_filters(
    filters: Mapping[str, str], schemas: Mapping[str, DatasetSchema]
) -> dict[str, exp.Expr]:
    """Every dataset's filter parsed against that dataset; a filter for a dataset the
    license does not cover is refused, since it would restrict nothing."""
    parsed: dict[str, exp.Expr] = {}
    for dataset, text in sorted(filters.items()):
        schema = schemas.get(dataset)
        if schema is None:
            raise InvalidInput.coded(
                "catalog_filter_uncovered",
                dataset=dataset,
                suggestion=f"filter only the license's datasets ({', '.join(sorted(schemas))})",
                step=Step.ROW_FILTER_DATASETS,
            )
        if not text.strip():
            raise InvalidInput.coded("catalog_filter_empty", dataset=dataset)
        parsed[dataset] = parse_row_filter(text, schema)
    return parsed


def render(predicate: exp.Expr) -> str:
    """The stored text of a filter: the rendering of its checked tree."""
    return predicate.sql(DIALECT)


def conjoin(first: exp.Expr, second: exp.Expr) -> exp.Expr:
    """Both filters at once: never wider than either, so narrowing may only add to one."""
    if render(first) == render(second):
        return first.copy()
    return exp.and_(first.copy(), second.copy(), wrap=True)


def filter_digest(predicate: exp.Expr) -> str:
    """What a filtered file is keyed by: the rendered, checked predicate."""
    return hashlib.sha256(render(predicate).encode("utf-8")).hexdigest()


def split_row_filter(text: str) -> tuple[str, str]:
    """`dataset:predicate` as a front end takes it; the predicate may hold colons."""
    dataset, colon, predicate = text.partition(":")
    dataset = dataset.strip().lower()
    if not colon or not dataset or not predicate.strip() or not dataset.isidentifier():
        raise InvalidInput.coded(
            "catalog_filter_no_dataset",
            text=text[:200],
            suggestion=f"write the dataset, a colon and the predicate, e.g. {EXAMPLE}",
            step=Step.ROW_FILTER_FORM,
        )
    return dataset, predicate.strip()


def row_filters_from(texts: Iterable[str]) -> dict[str, str]:
    """`dataset:predicate` entries as a mapping, one predicate per dataset."""
    found: dict[str, str] = {}
    for text in texts:
        dataset, predicate = split_row_filter(text)
        if dataset in found:
            raise InvalidInput.coded("catalog_filter_twice", dataset=dataset)
        found[dataset] = predicate
    return found
