"""Values cannot make the private core fail: every computation on a row is total.

A core that errors on some values and not on others is an oracle: `WHERE
employees * 4611686018427387904 > 0` fails exactly when some enterprise has two
or more employees. So in the core each outermost computation over a column that
can raise (a cast, arithmetic overflow, integer division by zero, an impossible
date) is wrapped in DuckDB's TRY(), which gives NULL instead.
"""

from __future__ import annotations

from sqlglot import exp

# Computations that can raise on some values. Comparisons, logic, CASE and
# COALESCE cannot; bare columns and literals cannot.
_MAY_RAISE = (exp.Binary, exp.Neg, exp.Func)
_SAFE = (
    exp.Connector, exp.Predicate, exp.AggFunc, exp.Window, exp.Try, exp.Case, exp.If, exp.Tuple,
)  # fmt: skip


def _may_raise(node: exp.Expr) -> bool:
    """A computation that can raise and reads a column (literals alone cannot vary)."""
    return (
        isinstance(node, _MAY_RAISE)
        and not isinstance(node, _SAFE)
        and node.find(exp.Column) is not None
    )


def guard_values(core: exp.Select) -> exp.Select:
    """The core with each outermost computation that may raise wrapped in TRY()."""

    def guard(node: exp.Expr) -> exp.Expr:
        if _may_raise(node) and not _inside_guarded(node):
            return exp.Try(this=node)
        return node

    guarded = core.transform(guard, copy=True)
    assert isinstance(guarded, exp.Select)
    return guarded


def _inside_guarded(node: exp.Expr) -> bool:
    """Whether an enclosing computation already guards this one (one TRY is enough)."""
    parent = node.parent
    while parent is not None and not isinstance(parent, exp.Select):
        if _may_raise(parent) or isinstance(parent, exp.Try):
            return True
        parent = parent.parent
    return False
