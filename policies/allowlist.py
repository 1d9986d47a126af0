"""What SQL may contain at all: an allow-list of syntax nodes and functions.

Anything sqlglot parses into a node type not named here is refused, so a new
DuckDB feature (a table function, a setting, a file reader) is denied until
someone decides it is safe and adds it.
"""

from __future__ import annotations

from sqlglot import exp

# Structure a SELECT needs: clauses, names, literals, operators, windows.
STRUCTURE: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Select, exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Order,
        exp.Ordered, exp.Limit, exp.Offset, exp.Column, exp.Identifier, exp.Literal,
        exp.Alias, exp.TableAlias, exp.Table, exp.Star, exp.Paren, exp.Subquery, exp.With,
        exp.CTE, exp.Union, exp.Intersect, exp.Except, exp.Distinct, exp.Null, exp.Boolean,
        exp.DataType, exp.DataTypeParam, exp.Tuple, exp.Interval, exp.Var, exp.Window,
        exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Neg, exp.EQ, exp.NEQ,
        exp.GT, exp.GTE, exp.LT, exp.LTE, exp.And, exp.Or, exp.Not, exp.Is, exp.In,
        exp.Between, exp.Like, exp.ILike, exp.Case, exp.If, exp.Cast, exp.TryCast,
        exp.Coalesce, exp.Nullif, exp.DPipe, exp.Filter, exp.NullSafeEQ, exp.Placeholder,
    }
)  # fmt: skip

# Scalar functions that compute on a value and cannot reach files, settings or the host.
SCALAR_FUNCTIONS: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Abs, exp.Round, exp.Floor, exp.Ceil, exp.Ln, exp.Log, exp.Sqrt, exp.Pow,
        exp.Exp, exp.Sign, exp.Least, exp.Greatest, exp.Upper, exp.Lower, exp.Trim,
        exp.Length, exp.Substring, exp.Left, exp.Right, exp.Concat, exp.Replace,
        exp.StrPosition, exp.Year, exp.Month, exp.Day, exp.Quarter, exp.Extract,
        exp.TimestampTrunc, exp.DateTrunc, exp.TimeToStr, exp.StrToDate, exp.StrToTime,
        exp.CurrentDate, exp.DateDiff, exp.DateAdd, exp.DateSub, exp.DayOfWeek,
        exp.DayOfYear, exp.WeekOfYear, exp.DateFromParts,
    }
)  # fmt: skip

# Aggregates the gate can check (their companions are computable per group).
GATED_AGGREGATES: frozenset[type[exp.Expr]] = frozenset({exp.Count, exp.Sum, exp.Avg})

# Aggregates and window functions that are fine over public (L1) columns only.
PUBLIC_ONLY_FUNCTIONS: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Min, exp.Max, exp.Median, exp.Stddev, exp.StddevPop, exp.StddevSamp,
        exp.Variance, exp.VariancePop, exp.RowNumber, exp.Rank, exp.DenseRank,
        exp.PercentileCont, exp.PercentileDisc, exp.Lag, exp.Lead, exp.First, exp.Last,
        exp.Mode, exp.ArrayAgg, exp.GroupConcat, exp.ArgMax, exp.ArgMin, exp.Quantile,
        exp.CumeDist, exp.PercentRank, exp.Ntile,
    }
)  # fmt: skip

# DuckDB functions sqlglot does not model, by lowercase name; all pure computation.
ANONYMOUS_FUNCTIONS: frozenset[str] = frozenset(
    {"date_part", "datepart", "strftime", "make_date", "greatest", "least", "round_even"}
)

ALLOWED_NODES = STRUCTURE | SCALAR_FUNCTIONS | GATED_AGGREGATES | PUBLIC_ONLY_FUNCTIONS


def function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower() if isinstance(node, exp.Func) else type(node).__name__.lower()


def is_allowed(node: exp.Expr) -> bool:
    if isinstance(node, exp.Anonymous):
        return function_name(node) in ANONYMOUS_FUNCTIONS
    return type(node) in ALLOWED_NODES
