"""Near-identical queries: the same tree except for one literal in a WHERE clause.

Two such queries answered one after the other can isolate a few records by
difference (差分攻击), so the pair is worth a regulator's look. Compared on sqlglot
trees, never on SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError


@dataclass(frozen=True)
class LiteralChange:
    before: str
    after: str


def _filter_literals(tree: exp.Expr) -> list[exp.Literal]:
    return [lit for lit in tree.find_all(exp.Literal) if lit.find_ancestor(exp.Where) is not None]


def _shape(tree: exp.Expr) -> tuple[exp.Expr, list[str]]:
    """The tree with every WHERE literal made a placeholder, and those literals in order."""
    shaped = tree.copy()
    literals = _filter_literals(shaped)
    values = [lit.sql() for lit in literals]
    for lit in literals:
        lit.replace(exp.Placeholder())
    return shaped, values


@lru_cache(maxsize=64)
def _shaped(sql: str) -> tuple[exp.Expr, tuple[str, ...]] | None:
    """A query's shape and WHERE literals, parsed once per text: each submission is
    compared with the one before, so every query is the later, then the earlier, of a
    pair. Callers only compare what this returns, never change it."""
    try:
        shaped, values = _shape(sqlglot.parse_one(sql, read="duckdb"))
    except SqlglotError:
        return None
    return shaped, tuple(values)


def one_filter_literal_changed(first: str, second: str) -> LiteralChange | None:
    """The single WHERE literal that differs between two otherwise identical queries."""
    if first == second:  # the same text: the same tree and literals, nothing changed
        return None
    a, b = _shaped(first), _shaped(second)
    if a is None or b is None:
        return None
    (shape_a, values_a), (shape_b, values_b) = a, b
    if shape_a != shape_b or len(values_a) != len(values_b):
        return None
    # a rewritten query may read the operator's filter twice (the figures and the
    # populations each scan it), so one change shows once per copy
    changed = {(x, y) for x, y in zip(values_a, values_b, strict=True) if x != y}
    if len(changed) != 1:
        return None
    return LiteralChange(*changed.pop())
