"""SQL pieces of the private core: clamps, bounded scans, top contributions, unit
digests and the population sketches the gate reads (gate/sketches.py).

Small builders of sqlglot trees that policies/rewrite.py assembles into the core,
and `for_engine`, which adapts the one rewritten tree to an engine that lacks a
function the core uses (Spark has no top-n `MAX(x, n)`) or would overflow where
DuckDB does not (an exact sum of BIGINTs).

Per-unit bounding (a `ROW_NUMBER()` per unit over each scan, then a GROUP BY of
(key, unit)) is what makes every other figure safe, and what costs the most. It is
skipped only when `rows_are_units` proves it changes nothing: the core reads one
dataset whose every unit has at most one row (counted at ingest over the stored
file, `catalog.ingest`), once, with no join, lateral or table function that could
repeat a row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlglot import exp

from catalog.schema import DatasetSchema
from core.population_sketch import CELL_BITS, CELLS, LOWEST, PARTITIONS, ROUND_KEYS, WORD
from policies.shape import clause

TOP = 2  # the rules read the two largest contributions of a group (p-ratio, nk-dominance)
# nodes that can make one stored row appear as several rows of the core
_REPEATS_ROWS = (exp.UDTF, exp.Query, exp.Subquery, exp.Join)


def clamp(value: exp.Expr, lo: float, hi: float) -> exp.Expr:
    """LEAST(GREATEST(x, lo), hi) in DOUBLE, so sums of integers never become HUGEINT.

    NULL stays NULL: GREATEST and LEAST skip NULL arguments in DuckDB and Spark, so
    without the CASE a missing value would be summed as `lo`."""
    as_double = exp.Cast(this=value.copy(), to=exp.DataType.build("DOUBLE"))
    lower = exp.func("GREATEST", as_double, exp.Literal.number(lo))
    clamped = exp.func("LEAST", lower, exp.Literal.number(hi))
    missing = exp.Is(this=value.copy(), expression=exp.Null())
    return exp.Case(ifs=[exp.If(this=missing, true=exp.Null())], default=clamped)


def bigint(value: exp.Expr) -> exp.Expr:
    """Sums of counts are HUGEINT in DuckDB; keep them plain 64-bit integers."""
    return exp.Cast(this=value, to=exp.DataType.build("BIGINT"))


# the mark `exact_sum` leaves on its SUM, for `for_engine` to widen where it must
EXACT_SUM = "sluice_exact_sum"


def exact_sum(units: exp.Expr) -> exp.Expr:
    """SUM of BIGINT whole units, exact in every engine. DuckDB sums BIGINT into HUGEINT
    (128 bits) itself, where a cast of every row to DECIMAL(38, 0) first cost ~0.03 s
    per 10M rows (docs/benchmarks.md). Spark's SUM(BIGINT) wraps or raises at 2^63, so
    `for_engine` widens the argument there."""
    total = exp.Sum(this=units)
    total.meta[EXACT_SUM] = True
    return total


def present(value: exp.Expr) -> exp.Expr:
    """`value IS NOT NULL`."""
    return exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null()))


def unit_digest(unit: exp.Expr) -> exp.Expr:
    """A unit's digest as a BIGINT, computed from its text, for a file ingested without
    `__unit_digest`: the value catalog.unit_digests writes (the MD5's first 8 bytes,
    big-endian, signed). Each hex digit is read by its place in '0123456789abcdef', which
    DuckDB and Spark render alike; the high word is made signed before it is shifted,
    so no step leaves BIGINT. Only old files pay for it."""
    text = exp.Cast(this=unit, to=exp.DataType.build("VARCHAR"))
    hexed = exp.MD5(this=text)
    digits = exp.Literal.string("0123456789abcdef")
    as_bigint = exp.DataType.build("BIGINT")

    def word(first: int) -> exp.Expr:
        total: exp.Expr = _number(0)
        for place in range(8):
            at = _number(first + place)
            digit = exp.Substring(this=hexed.copy(), start=at, length=_number(1))
            found = exp.StrPosition(this=digits.copy(), substr=digit)
            value = exp.Cast(this=_op(exp.Sub, found, _number(1)), to=as_bigint.copy())
            total = _op(exp.Add, total, _op(exp.Mul, value, _number(16 ** (7 - place))))
        return total

    high = word(1)
    negative = exp.GTE(this=high.copy(), expression=_number(1 << 31))
    wraps = exp.If(this=negative, true=_number(1 << 32))
    signed = _op(exp.Sub, high, exp.Case(ifs=[wraps], default=_number(0)))
    return _op(exp.Add, _op(exp.Mul, signed, _number(1 << 32)), word(9))


def _number(value: int) -> exp.Expr:
    return exp.Literal.number(value)


def _op(kind: type[exp.Binary], left: exp.Expr, right: exp.Expr) -> exp.Expr:
    """A binary operation in brackets: engines rank `&`, `^` and `|` differently."""
    return exp.paren(kind(this=left, expression=right), copy=False)


def sketch_cell(digest: exp.Expr, partition: int) -> exp.Expr:
    """The digest's cell in a population sketch's `partition`, as
    core.population_sketch.cell computes it (the gate's half)."""
    shifted = _op(exp.BitwiseRightShift, digest.copy(), _number(CELL_BITS * partition))
    bits = _op(exp.BitwiseAnd, shifted, _number(CELLS - 1))
    return _op(exp.Add, bits, _number(CELLS * partition))


def sketch_check(digest: exp.Expr) -> exp.Expr:
    """The digest's check value, as core.population_sketch.check computes it: every
    step in BIGINT, no product above 2^63 (DuckDB raises on overflow, Spark wraps)."""

    def mixed(word: exp.Expr, key: int) -> exp.Expr:
        product = _op(exp.Mul, word, _number(key))
        return _op(exp.BitwiseAnd, _op(exp.BitwiseRightShift, product, _number(16)), _number(WORD))

    left = _op(exp.BitwiseAnd, digest.copy(), _number(WORD))
    right = _op(
        exp.BitwiseAnd, _op(exp.BitwiseRightShift, digest.copy(), _number(32)), _number(WORD)
    )
    for index, key in enumerate(ROUND_KEYS):
        if index % 2 == 0:
            left = _op(exp.BitwiseXor, left, mixed(right.copy(), key))
        else:
            right = _op(exp.BitwiseXor, right, mixed(left.copy(), key))
    high = _op(exp.BitwiseAnd, right, _number(0x7FFF_FFFF))
    return _op(exp.BitwiseOr, _op(exp.BitwiseLeftShift, high, _number(32)), left)


def sketch_cells(
    source: exp.Query, keys: list[str], digest: str, check: str | None = None
) -> exp.Select:
    """Per group and sketch cell, the cells' figures (`__cell`, `__count`, `__xor`,
    `__check`) from `source`, a query with one row per (group, unit): one scan, one
    grouping set per partition. Cells are numbered across partitions, so the one
    partition column a set keeps is the cell; the others are rolled up to NULL.
    `check` names a column of `source` holding each digest's check value (stored at
    ingest); without it the check is computed from the digest."""
    unit = exp.column(digest)
    places = [sketch_cell(unit, p).as_(f"__c{p}") for p in range(PARTITIONS)]
    hashed = exp.column(check) if check is not None else sketch_check(unit)
    inner = (
        exp.select(*(exp.column(k) for k in keys), unit, *places)
        .select(hashed.as_("__h"))
        .from_(source.subquery("__sketched"))
        .where(present(unit))
    )
    sets = [
        exp.Tuple(expressions=[*(exp.column(k) for k in keys), exp.column(f"__c{p}")])
        for p in range(PARTITIONS)
    ]
    cell = exp.func("COALESCE", *(exp.column(f"__c{p}") for p in range(PARTITIONS)))
    return (
        exp.select(*(exp.column(k) for k in keys), cell.as_("__cell"))
        .select(exp.Count(this=exp.Star()).as_("__count"))
        .select(exp.func("BIT_XOR", unit.copy()).as_("__xor"))
        .select(exp.func("BIT_XOR", exp.column("__h")).as_("__check"))
        .from_(inner.subquery("__placed"))
        .group_by(exp.GroupingSets(expressions=sets))
    )


def sketch_per_group(cells: exp.Select, keys: list[str]) -> exp.Select:
    """Each group's sketch as one column, `__sketch`: a list of [cell, count, XOR,
    check] lists, one per cell the group has units in (any order: the gate places
    them by cell). One list of lists keeps the four figures of a cell together in
    every engine, and DuckDB writes it to Parquet itself."""
    figures = [exp.column(name) for name in ("__cell", "__count", "__xor", "__check")]
    listed = exp.ArrayAgg(this=exp.Array(expressions=figures))
    return (
        exp.select(*(exp.column(k) for k in keys), listed.as_("__sketch"))
        .from_(cells.subquery("__cells"))
        .group_by(*(exp.column(k) for k in keys))
    )


def lowest_digests(digest: exp.Expr) -> exp.Expr:
    """`__lowest`: the group's LOWEST lowest digests, ascending, by a bottom-n aggregate
    (DuckDB `MIN(x, n)`; `for_engine` gives Spark its form). The store indexes a cell
    by them (gate/sketches.py)."""
    return exp.Min(this=digest, count=exp.Literal.number(LOWEST))


def top_contributions(value: exp.Expr) -> exp.Expr:
    """The group's `TOP` largest values as a list, largest first, by a top-n aggregate
    (DuckDB `MAX(x, n)`), instead of ranking every unit with a window."""
    return exp.Max(this=value, count=exp.Literal.number(TOP))


def nth(values: exp.Expr, n: int) -> exp.Expr:
    """The n-th item (from 1) of a list, NULL past its end, in every engine's indexing."""
    return exp.Bracket(this=values, expressions=[exp.Literal.number(n)], offset=1, safe=True)


def rows_are_units(core: exp.Select, schemas: Mapping[str, DatasetSchema]) -> bool:
    """Whether each row the core reads is one whole privacy unit, so per-unit bounding
    would change nothing: one scan of one dataset proven one-row-per-unit at ingest,
    and nothing (join, lateral, UNNEST, table function, subquery) that could repeat it."""
    from_ = clause(core, "from")
    tables = list(core.find_all(exp.Table))
    if from_ is None or len(tables) != 1 or from_.this is not tables[0]:
        return False
    if core.args.get("joins") or core.args.get("laterals"):
        return False
    if any(isinstance(n, _REPEATS_ROWS) for n in core.walk() if n is not core):
        return False
    schema = schemas.get(tables[0].name.lower())
    return schema is not None and schema.one_row_per_unit


def bounded_scans(
    core: exp.Select, schemas: Mapping[str, DatasetSchema]
) -> dict[str, exp.Expr | list[exp.Expr] | None]:
    """FROM, JOINs and WHERE of the core, each dataset scan keeping at most
    `contribution_limit` rows per privacy unit (so no unit weighs more than the
    noise assumes, however many groups its rows fall into). The bound sits inside
    each scan, so a LEFT JOIN keeps its unmatched rows.

    Which of a unit's rows are kept is decided by the values the core reads from
    them, not by the order an engine happens to read the rows in: a job run twice
    releases the same figures, Spark (which evaluates a CTE once per reader) puts a
    unit in the same groups for the figures and for the population sketches, and
    DuckDB and Spark keep the same rows. Rows alike in every column the core reads
    are interchangeable."""

    def bound(node: exp.Expr) -> exp.Expr:
        if not (isinstance(node, exp.Table) and node.name.lower() in schemas):
            return node
        schema = schemas[node.name.lower()]
        unit = exp.column(schema.privacy_unit)
        read = sorted({c.name for c in core.find_all(exp.Column) if c.table == node.alias_or_name})
        order = exp.Order(
            expressions=[exp.Ordered(this=exp.column(name), nulls_first=False) for name in read]
            or [exp.Ordered(this=unit.copy())]
        )
        number = exp.Window(this=exp.RowNumber(), partition_by=[unit], order=order)
        numbered = exp.select("*", number.as_("__row")).from_(exp.table_(node.name), copy=False)
        limit = exp.Literal.number(schema.contribution_limit)
        kept = exp.select("*").from_(numbered.subquery("__numbered", copy=False), copy=False)
        kept.where(exp.LTE(this=exp.column("__row"), expression=limit), copy=False)
        return kept.subquery(node.alias_or_name, copy=False)

    from_ = clause(core, "from")
    assert from_ is not None
    return {
        "from_": from_.transform(bound),
        "joins": [join.transform(bound) for join in core.args.get("joins") or []],
        "where": core.args.get("where"),
    }


SPARK_BUCKETS = 64  # a group's values are ranked in this many buckets (Spark)


def for_engine(tree: exp.Query, dialect: str) -> exp.Query:
    """The rewritten core as `dialect` can run it. Spark lacks `MAX(x, n)` and
    `MIN(x, n)`; there each is the head of a sorted list of the values ranked among the
    first n of their group (nulls left out, as the top-n aggregates leave them), the
    same list DuckDB returns. Ranking keeps the list short: a group's values are never
    collected whole, which for a group of many millions of units would not fit an
    executor's memory, and Spark's sort for the ranking spills to disk instead. An
    `exact_sum` becomes a sum of DECIMAL(38, 0) there."""
    if dialect != "spark":
        return tree
    adapted = tree.copy()
    for total in list(adapted.find_all(exp.Sum)):
        if total.meta.get(EXACT_SUM):
            wide = exp.DataType.build("DECIMAL(38, 0)")
            total.set("this", exp.Cast(this=total.this, to=wide))
    for select in list(adapted.find_all(exp.Select)):
        found = [
            node
            for node in select.find_all(exp.AggFunc)
            if _top_n(node) and node.parent_select is select
        ]
        if found:
            _rank_top_n(select, found)
    return adapted


def _top_n(node: exp.Expr) -> bool:
    return isinstance(node, exp.Max | exp.Min) and node.args.get("count") is not None


def _rank_top_n(select: exp.Select, found: Sequence[exp.Expr]) -> None:
    """`select` with each of its top-n aggregates `found` ranked first: its rows (after
    its WHERE) get a `ROW_NUMBER()` per group and bucket of values (so the ranking runs
    in parallel even for a query without keys), and the aggregate collects the values
    ranked within n only. The n largest (or lowest) of a group are each among the n of
    their bucket, so sorting what was collected and keeping n gives the same list.
    The select reads one source by unqualified names, as the rewrite writes `__groups`."""
    own = [column for column in select.find_all(exp.Column) if column.parent_select is select]
    qualified = any(column.table for column in own)
    if select.args.get("joins") or select.args.get("from_") is None or qualified:
        raise ValueError("a top-n aggregate is ranked over one source, by unqualified names")
    group_by = select.args.get("group")
    keys = list(group_by.expressions) if group_by else []
    ranked = exp.select(exp.Star()).from_(select.args["from_"].this.copy(), copy=False)
    if select.args.get("where") is not None:
        ranked.set("where", select.args["where"].copy())
        select.set("where", None)
    for index, node in enumerate(found):
        value, count, ascending = node.this, node.args["count"], isinstance(node, exp.Min)
        bucket = _op(exp.Mod, exp.func("HASH", value.copy()), _number(SPARK_BUCKETS))
        window = exp.Window(
            this=exp.RowNumber(),
            partition_by=[*(key.copy() for key in keys), bucket],
            order=exp.Order(
                expressions=[exp.Ordered(this=value.copy(), desc=not ascending, nulls_first=False)]
            ),
        )
        ranked.select(window.as_(f"__rank{index}"), copy=False)
        within = exp.LTE(this=exp.column(f"__rank{index}"), expression=count.copy())
        kept = exp.Case(ifs=[exp.If(this=within, true=value.copy())])
        values = exp.ArrayAgg(this=kept, nulls_excluded=True)
        ordered = exp.ArraySort(this=values, asc=exp.true() if ascending else exp.false())
        node.replace(exp.ArraySlice(this=ordered, start=_number(1), end=count.copy()))
    select.set("from_", exp.From(this=ranked.subquery("__ranked")))
