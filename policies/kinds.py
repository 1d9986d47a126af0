"""Kinds of values as DuckDB binds them, read from sqlglot's type annotations, and mismatches.

DuckDB converts implicitly only within a kind (INTEGER to DOUBLE, DATE to
TIMESTAMP) and from a quoted constant to what it meets; the type check reasons
in these kinds, never in SQL text, and reports a `Mismatch` with a fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlglot import exp

from policies.analysis import DIALECT

DType = exp.DataType.Type


class Kind(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    REAL = "real"
    DATE = "date"
    TIMESTAMP = "timestamp"
    INTERVAL = "interval"
    BOOLEAN = "boolean"


NUMBER = frozenset({Kind.INTEGER, Kind.REAL})
TEMPORAL = frozenset({Kind.DATE, Kind.TIMESTAMP})
TEXT = frozenset({Kind.TEXT})
WHOLE = frozenset({Kind.INTEGER})
# DuckDB adds days to a DATE only as a 32-bit INTEGER (an integer literal is one), not a BIGINT.
SMALL_INTEGERS = frozenset({DType.TINYINT, DType.SMALLINT, DType.INT, DType.UTINYINT})
DATE_TYPES = frozenset({DType.DATE, DType.DATE32})
TIMESTAMP_TYPES = exp.DataType.TEMPORAL_TYPES - DATE_TYPES - {DType.TIME, DType.TIMETZ}
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S")
TIMESTAMP_FORMATS = (*DATE_FORMATS, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")
BOOLEAN_WORDS = frozenset({"true", "false", "t", "f", "yes", "no", "1", "0"})
# how DuckDB names sqlglot's spellings, so messages use the names operators see
DUCKDB_NAMES = {"TEXT": "VARCHAR", "INT": "INTEGER"}


def kind_of(node: exp.Expr) -> Kind | None:
    """The kind of an annotated expression; None when unknown or NULL (nothing to judge)."""
    if isinstance(node, exp.Null) or node.type is None:
        return None
    dtype = node.type.this
    if dtype in exp.DataType.TEXT_TYPES:
        return Kind.TEXT
    if dtype in exp.DataType.INTEGER_TYPES:
        return Kind.INTEGER
    if dtype in exp.DataType.NUMERIC_TYPES:
        return Kind.REAL
    if dtype in DATE_TYPES:
        return Kind.DATE
    if dtype in TIMESTAMP_TYPES:
        return Kind.TIMESTAMP
    if dtype is DType.INTERVAL:
        return Kind.INTERVAL
    if dtype is DType.BOOLEAN:
        return Kind.BOOLEAN
    return None


def family(kind: Kind) -> str:
    """Kinds DuckDB compares and mixes with each other without an explicit cast."""
    if kind in NUMBER or kind is Kind.BOOLEAN:
        return "number"
    if kind in TEMPORAL:
        return "date"
    return kind.value


def is_text_constant(node: exp.Expr) -> bool:
    return isinstance(node, exp.Literal) and node.is_string


def is_small_integer(node: exp.Expr) -> bool:
    return node.type is not None and node.type.this in SMALL_INTEGERS


def constant_fits(node: exp.Expr, kind: Kind) -> bool:
    """Whether DuckDB can read a quoted constant as `kind`; it fails the query if not."""
    text = node.name.strip()
    if kind is Kind.TEXT:
        return True
    if kind in NUMBER:
        digits = text.lstrip("+-").replace(".", "", 1)
        return digits.isascii() and digits.isdigit() and (kind is Kind.REAL or "." not in text)
    if kind in TEMPORAL:
        formats = DATE_FORMATS if kind is Kind.DATE else TIMESTAMP_FORMATS
        return any(_parses(text, pattern) for pattern in formats)
    if kind is Kind.BOOLEAN:
        return node.name.lower() in BOOLEAN_WORDS  # DuckDB does not trim these
    return False


def _parses(text: str, pattern: str) -> bool:
    try:
        datetime.strptime(text, pattern)
    except ValueError:
        return False
    return True


def type_name(node: exp.Expr) -> str:
    """The annotated type as DuckDB spells it (VARCHAR, BIGINT, DATE, …)."""
    if node.type is None:
        return "UNKNOWN"
    name = node.type.sql(DIALECT)
    return DUCKDB_NAMES.get(name, name)


# DuckDB refuses the query outright, whatever the data.
TYPE_MISMATCH = "type_mismatch"
# DuckDB converts text and fails on the first value that does not convert: a pseudonym or
# a mask never does, so whether the query runs would depend on what the store holds.
UNSAFE_CONVERSION = "unsafe_conversion"


@dataclass(frozen=True)
class Mismatch:
    argument: exp.Expr  # the operand at fault; the reason names the columns in it
    problem: str
    suggestion: str
    rule: str = TYPE_MISMATCH


Check = Callable[[exp.Expr], list[Mismatch]]


def show(node: exp.Expr) -> str:
    """An expression as the operator wrote it: without the table names qualify added."""
    bare = node.transform(lambda n: exp.column(n.name) if isinstance(n, exp.Column) else n)
    return bare.sql(DIALECT)


def fix_for(needed: frozenset[Kind], found: Kind, argument: exp.Expr) -> str:
    """How to turn an operand of kind `found` into what is `needed`, in the operator's words."""
    written = show(argument)
    if needed == TEXT:
        return f"convert it to text first: CAST({written} AS VARCHAR)"
    if needed == TEMPORAL:
        if found in NUMBER:
            return "it is a number already; build a date with make_date(year, month, day)"
        return "apply it to a DATE or TIMESTAMP column; write a date as DATE '2020-01-01'"
    if found is Kind.TEXT:
        return (
            "text does not compute (a pseudonym or a mask never holds a number): count or "
            f"group it, or TRY_CAST({written} AS DOUBLE), which is NULL where it is no number"
        )
    if found in TEMPORAL:
        return f"take a number out of the date first, e.g. year({written})"
    if found is Kind.BOOLEAN:
        return f"turn it into a number first: CASE WHEN {written} THEN 1 ELSE 0 END"
    if found is Kind.REAL and needed == WHOLE:
        return f"make it an integer first: CAST({written} AS INTEGER)"
    return "use a value of the type the function takes"


def has_column(node: exp.Expr) -> bool:
    return node.find(exp.Column) is not None
