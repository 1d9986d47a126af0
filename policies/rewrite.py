"""Rewriting a checked query into what runs: row filters, clamps and companions.

Aggregate queries over non-public data become two stages (policies/core_sql.py has
the pieces): per privacy unit and group (clamped, contribution-bounded), then one
aggregate per group computing every figure once, with the companion columns the
output gate needs (`__n`, `__lowest`, `__sketch`, `__top1__c`, `__top2__c`, `__abs__c`;
`__sum__c` and `__cnt__c` for noisy averages; `__fx__c` for exact fixed-point sums).
The two largest contributions come from a top-n aggregate, not from ranking every
unit. When each row the core reads is already one unit's whole share (one dataset,
one row per unit proven at ingest, nothing that repeats rows), the first stage is
the rows themselves: no per-unit GROUP BY, no bounding window.
COUNT(DISTINCT x) of anything but the privacy unit carries per-unit lists of x
(`__dN`) from the first stage to the second, where their union is counted.

`__lowest` and `__sketch` are the group's population for the differencing check
(gate/differencing.py, gate/sketches.py): its 64 lowest unit digests and, for a group
of more than 64 units, the cells of its sketch, built in a third stage (`__sketches`)
joined back to the groups. A unit's digest is the first 8 bytes of MD5 over its text,
as ingest stored it beside the unit, or computed here from the text for an older file
(`unit_digest`); bit operations, MD5 and the digits of its hex render the same in
DuckDB and Spark, so a population computed by either engine, today or after an
upgrade, names the same units; an engine's own `hash()` would not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlglot import exp

from catalog.schema import DatasetSchema
from catalog.unit_digests import UNIT_CHECK_COLUMN, UNIT_DIGEST_COLUMN
from core.cells import CellKind
from core.errors import Reason
from core.levels import Level
from core.population_sketch import LOWEST
from policies import discrete
from policies.core_sql import (
    bigint,
    bounded_scans,
    clamp,
    exact_sum,
    lowest_digests,
    nth,
    present,
    rows_are_units,
    sketch_cells,
    sketch_per_group,
    top_contributions,
    unit_digest,
)
from policies.reasons import note, reason


@dataclass(frozen=True)
class OutputCell:
    """An output column and what the gate must check for it."""

    column: str
    kind: CellKind
    level: Level
    source: str | None = None  # dataset.column aggregated, if any
    sensitivity: float = 0.0  # how far one unit can move this column (all groups together)
    count_distinct_unit: bool = False
    count_sensitivity: float = 1.0  # for averages: how far one unit can move the count
    categories: tuple[str, ...] | None = None  # a group key's public code list, if declared
    # SUM/AVG: the fixed-point sum `__fx__<column>` counts whole units of `fine`, each row
    # clamped to [lower, upper] (whole multiples of `fine`); 0.0 when there is none
    lower: float = 0.0
    upper: float = 0.0
    fine: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CellKind(self.kind))  # text from a caller or a record


@dataclass
class Rewrite:
    tree: exp.Query
    cells: list[OutputCell] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    max_groups: int = 1  # how many groups one privacy unit's rows can fall in
    rows_are_units: bool = False  # per-unit bounding skipped: each row is one whole unit


def _col(name: str) -> exp.Column:
    return exp.column(name)


def _or_empty(values: exp.Expr) -> exp.Expr:
    """A list, or an empty one where a group has none (no non-null unit)."""
    return exp.Coalesce(this=values, expressions=[exp.Array(expressions=[])])


def _output_name(projection: exp.Expr, taken: set[str]) -> str:
    name = projection.alias_or_name
    if name.startswith("_col_"):
        inner = projection.unalias()
        func = type(inner).__name__.lower()
        column = inner.find(exp.Column)
        name = f"{func}_{column.name}" if column is not None else func
    base, n = name, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


class _Builder:
    """Builds the private core of one simple SELECT ... GROUP BY.

    `__per_unit` has one row per (group, unit), clamped and bounded, or is the rows
    themselves when `rows_are_units` holds; `__groups` is one aggregate over it in
    which each figure is computed once, however many outputs and companions read it
    (SUM(x) and AVG(x) share their sums, counts and top contributions); the last
    SELECT only names those figures."""

    def __init__(self, tree: exp.Select, schemas: Mapping[str, DatasetSchema]):
        self.tree = tree
        self.schemas = schemas
        self.aliases = {t.alias_or_name: t.name.lower() for t in tree.find_all(exp.Table)}
        first = tree.args["from_"].this if "from_" in tree.args else tree.args["from"].this
        self.unit_dataset = self.aliases[first.alias_or_name]
        self.unit_schema = schemas[self.unit_dataset]
        self.unit = exp.column(self.unit_schema.privacy_unit, table=first.alias_or_name)
        self.stored_digest = (  # the unit's digest as ingest wrote it, where it did
            exp.column(UNIT_DIGEST_COLUMN, table=first.alias_or_name)
            if self.unit_schema.unit_digests
            else None
        )
        self.stored_check = (  # its check value for the sketches, where ingest wrote it
            exp.column(UNIT_CHECK_COLUMN, table=first.alias_or_name)
            if self.unit_schema.unit_digests and self.unit_schema.unit_checks
            else None
        )
        scanned = [schemas[name] for name in self.aliases.values() if name in schemas]
        # rows per unit after every scan is bounded; a join multiplies the bounds
        self.limit = 1
        for schema in scanned:
            self.limit *= schema.contribution_limit
        self.per_row = rows_are_units(tree, schemas)
        self.keys = list(tree.args["group"].expressions) if tree.args.get("group") else []
        self.stage: dict[str, exp.Expr] = {}  # per-unit columns by their SQL, aliased
        self.figures: dict[str, exp.Expr] = {}  # group aggregates by their SQL, aliased
        self.outer: list[exp.Expr] = []
        self.companions: list[exp.Expr] = []
        self.cells: list[OutputCell] = []
        self.reasons: list[Reason] = []

    def per_unit(self, grouped: exp.Expr, row: exp.Expr, prefix: str) -> exp.Column:
        """A column of `__per_unit`: `grouped` over one unit's rows in a group, or `row`
        when each row is a unit; asked twice, it is one column."""
        chosen = row if self.per_row else grouped
        key = chosen.sql("duckdb")
        if key not in self.stage:
            self.stage[key] = chosen.as_(f"__{prefix}{len(self.stage)}")
        return _col(self.stage[key].alias)

    def figure(self, aggregate: exp.Expr) -> exp.Column:
        """A column of `__groups`, an aggregate over `__per_unit`; asked twice, it is one."""
        key = aggregate.sql("duckdb")
        if key not in self.figures:
            self.figures[key] = aggregate.as_(f"__g{len(self.figures)}")
        return _col(self.figures[key].alias)

    def key_ref(self, node: exp.Expr) -> exp.Expr | None:
        for index, key in enumerate(self.keys):
            if node == key:
                return _col(f"__k{index}")
        return None

    def spec(self, column: exp.Column):
        dataset = self.aliases.get(column.table, "")
        schema = self.schemas.get(dataset)
        return dataset, schema.column(column.name) if schema else None

    def counted(self, arg: exp.Expr) -> exp.Column:
        """One unit's rows counted (COUNT(*) or COUNT(x)), at most m of them."""
        m = exp.Literal.number(self.limit)
        if isinstance(arg, exp.Star):
            grouped = exp.func("LEAST", exp.Count(this=exp.Star()), m)
            return self.per_unit(grouped, exp.Literal.number(1), "c")
        one = exp.If(this=present(arg), true=exp.Literal.number(1))
        row = exp.Case(ifs=[one], default=exp.Literal.number(0))
        return self.per_unit(exp.func("LEAST", exp.Count(this=arg.copy()), m), row, "c")

    def add_aggregate(self, node: exp.Expr, name: str) -> exp.Expr | None:
        """Register the figures one aggregate needs; return the expression naming it."""
        if isinstance(node, exp.Count):
            arg = node.this
            if isinstance(arg, exp.Distinct):
                return self.count_distinct(arg, name)
            count = self.figure(exp.Sum(this=self.counted(arg)))
            level, source = self._level(arg), self._src(arg)
            self.cells.append(OutputCell(name, CellKind.COUNT, level, source, float(self.limit)))
            return bigint(exp.func("COALESCE", count, exp.Literal.number(0)))
        if isinstance(node, exp.Sum | exp.Avg):
            return self.add_sum(node, name)
        if isinstance(node, exp.Min | exp.Max):
            grouped = type(node)(this=node.this.copy())
            value = self.per_unit(grouped, node.this.copy(), "v")
            self.cells.append(OutputCell(name, CellKind.VALUE, self._level(node.this)))
            return self.figure(type(node)(this=value))
        function = type(node).__name__.upper()
        self.reasons.append(reason("aggregate_not_supported", name=name, function=function))
        return None

    def add_sum(self, node: exp.Sum | exp.Avg, name: str) -> exp.Expr | None:
        """SUM/AVG of a bounded measure: each unit's clamped share, and its companions."""
        column = node.this
        dataset, spec = self.spec(column) if isinstance(column, exp.Column) else ("", None)
        if spec is None or spec.bounds is None:
            self.reasons.append(reason("needs_bounds", name=name))
            return None
        m = self.limit
        lo, hi = spec.bounds
        grouped = clamp(exp.Sum(this=clamp(column, lo, hi)), lo * m, hi * m)
        # one row is the unit's whole share; the second clamp matters only when m > 1
        row = clamp(column, lo, hi) if m == 1 else clamp(clamp(column, lo, hi), lo * m, hi * m)
        share = self.per_unit(grouped, row, "s")
        count = self.figure(exp.Sum(this=self.counted(column)))
        total = self.figure(exp.Sum(this=share.copy()))
        self._contribution_companions(name, share, total, count, nonnegative=lo >= 0)
        kind = CellKind.SUM if isinstance(node, exp.Sum) else CellKind.AVG
        fine, k_lo, k_hi = self._fixed_point(name, column, lo, hi)
        lower, upper = discrete.from_units(k_lo, fine), discrete.from_units(k_hi, fine)
        self.cells.append(
            OutputCell(
                name, kind, spec.level, f"{dataset}.{spec.name}", max(abs(lo), abs(hi)) * m,
                False, float(m), lower=lower, upper=upper, fine=fine,
            )
        )  # fmt: skip
        if kind is CellKind.SUM:
            return total
        nonzero = exp.Nullif(this=count, expression=exp.Literal.number(0))
        return exp.Div(this=total, expression=nonzero)

    def count_distinct(self, arg: exp.Distinct, name: str) -> exp.Expr | None:
        """COUNT(DISTINCT x) as SQL means it, always noised (an L3 cell).

        Of the privacy unit, it counts units (`__unit`; `__per_unit` holds each unit of
        a group once, so no DISTINCT is needed). Of anything else, it is the real
        distinct count, rebuilt from per-unit lists of non-null values (a distinct count
        cannot be summed from per-unit counts), or counted directly when each row is a
        unit. Its sensitivity is the same m: a unit keeps at most m rows after the scan
        bound, and each row adds at most one value to one group, so adding or removing
        the unit moves the distinct counts of all groups together by at most m. Noise is
        needed even for an L1 x: the exact count would say how many of the group's
        x-cells are non-empty, small ones included, which the threshold suppresses
        everywhere else. Several expressions are refused: that counts combinations,
        which the lists cannot hold portably.
        """
        m = self.limit
        if len(arg.expressions) != 1:
            columns = [c.name for e in arg.expressions for c in e.find_all(exp.Column)]
            self.reasons.append(
                reason(
                    "count_distinct_columns",
                    column=columns[0] if columns else None,
                    name=name,
                    columns=", ".join(columns),
                )
            )
            return None
        counted = arg.expressions[0]
        source = self._src(counted)
        if self._is_unit(counted):
            self.cells.append(OutputCell(name, CellKind.COUNT, Level.L3, source, float(m), True))
            return self.figure(exp.Count(this=_col("__unit")))
        self.cells.append(OutputCell(name, CellKind.COUNT, Level.L3, source, float(m)))
        listed = exp.Filter(
            this=exp.ArrayAgg(this=counted.copy()), expression=exp.Where(this=present(counted))
        )
        values = self.per_unit(listed, counted.copy(), "d")
        distinct: exp.Expr
        if self.per_row:
            distinct = exp.Count(this=exp.Distinct(expressions=[values]))
        else:
            merged = exp.ArrayDistinct(this=exp.Flatten(this=exp.ArrayAgg(this=values)))
            distinct = exp.ArraySize(this=merged)
        return bigint(exp.func("COALESCE", self.figure(distinct), exp.Literal.number(0)))

    def _fixed_point(
        self, name: str, column: exp.Expr, lo: float, hi: float
    ) -> tuple[float, int, int]:
        """`__fx__<name>`: the group's sum in whole units of a fine granularity, exact.

        Each row is clamped, scaled and rounded to an integer, then clamped again to the
        integer bounds [k_lo, k_hi], so a unit's rows (at most m of them, over all groups)
        move the integer total by at most m·max(|k_lo|, |k_hi|) whatever the float steps
        did: the noise's sensitivity is that integer, with no slack (policies/privacy.py).
        Summed exactly (`exact_sum`) and carried as text, so no engine overflows or rounds it.
        """
        fine = discrete.fine_granularity(max(abs(lo), abs(hi)))
        k_lo, k_hi = discrete.to_units(float(lo), fine), discrete.to_units(float(hi), fine)
        p, q = discrete.ratio(fine)
        scaled = clamp(column, lo, hi)
        if q > 1:
            scaled = exp.Mul(this=scaled, expression=exp.Literal.number(q))
        if p > 1:
            scaled = exp.Div(this=scaled, expression=exp.Literal.number(p))
        whole = exp.Cast(this=exp.Round(this=scaled), to=exp.DataType.build("BIGINT"))
        bounded = exp.func(
            "LEAST",
            exp.func("GREATEST", whole, exp.Literal.number(k_lo)),
            exp.Literal.number(k_hi),
        )
        # GREATEST/LEAST skip NULLs in both engines: keep a NULL row out, as COUNT does
        grouped = exp.Filter(
            this=exact_sum(bounded.copy()), expression=exp.Where(this=present(column))
        )
        row = exp.Case(ifs=[exp.If(this=present(column), true=bounded)])
        units = self.per_unit(grouped, row, "f")
        total = exp.func("COALESCE", self.figure(exact_sum(units)), exp.Literal.number(0))
        text = exp.Cast(this=total, to=exp.DataType.build("VARCHAR"))
        self.companions.append(text.as_(f"__fx__{name}"))
        return fine, k_lo, k_hi

    def _is_unit(self, node: exp.Expr) -> bool:
        """Whether `node` is the privacy unit column of the dataset whose units are bounded."""
        return (
            isinstance(node, exp.Column)
            and self.aliases.get(node.table) == self.unit_dataset
            and node.name == self.unit_schema.privacy_unit
        )

    def _contribution_companions(
        self,
        name: str,
        share: exp.Column,
        total: exp.Column,
        count: exp.Column,
        nonnegative: bool,
    ) -> None:
        """The two largest |shares| (p-ratio, dominance), the sum of |shares|, and the
        exact sum and count for a noisy average. Shares clamped to a lower bound of 0 or
        more are their own magnitudes: no ABS, and the sum of |shares| is the total."""
        magnitude = share.copy() if nonnegative else exp.Abs(this=share.copy())
        top = self.figure(top_contributions(magnitude))
        for rank in (1, 2):
            largest = exp.func("COALESCE", nth(top.copy(), rank), exp.Literal.number(0))
            self.companions.append(largest.as_(f"__top{rank}__{name}"))
        absolute = self.figure(exp.Sum(this=magnitude.copy()))
        self.companions.append(absolute.as_(f"__abs__{name}"))
        self.companions.append(total.copy().as_(f"__sum__{name}"))
        self.companions.append(bigint(count.copy()).as_(f"__cnt__{name}"))

    def _src(self, node: exp.Expr) -> str | None:
        column = node.find(exp.Column) if not isinstance(node, exp.Column) else node
        if column is None:
            return None
        dataset, spec = self.spec(column)
        return f"{dataset}.{spec.name}" if spec else None

    def _level(self, node: exp.Expr) -> Level:
        levels = [self.spec(c)[1] for c in node.find_all(exp.Column)]
        if isinstance(node, exp.Column):
            levels = [self.spec(node)[1]]
        ranks = [s.level for s in levels if s is not None]
        return max(ranks, key=lambda lv: lv.rank) if ranks else Level.L1

    def build(self) -> Rewrite:
        taken: set[str] = set()
        for projection in self.tree.selects:
            name = _output_name(projection, taken)
            body = projection.unalias()
            key = self.key_ref(body)
            if key is not None:
                self.outer.append(key.as_(name))
                level = self._level(body)
                categories = self.spec(body)[1].categories if isinstance(body, exp.Column) else None
                self.cells.append(
                    OutputCell(name, CellKind.GROUP_KEY, level, categories=categories)
                )
                continue
            if not isinstance(body, exp.AggFunc) or body.find(exp.AggFunc) is not body:
                self.reasons.append(reason("projection_shape", name=name))
                continue
            rebuilt = self.add_aggregate(body, name)
            if rebuilt is not None:
                self.outer.append(rebuilt.as_(name))
        return self._assemble()

    def _per_unit_stage(self) -> exp.Select:
        keys = [key.copy().as_(f"__k{i}") for i, key in enumerate(self.keys)]
        stage = exp.select(*keys, *self.stage.values(), self.unit.copy().as_("__unit"))
        units = [self.unit.copy()]
        # one digest per unit and one check per digest: grouping by them changes nothing
        for stored, name in ((self.stored_digest, UNIT_DIGEST_COLUMN),
                             (self.stored_check, UNIT_CHECK_COLUMN)):  # fmt: skip
            if stored is not None:
                stage.select(stored.copy().as_(name), copy=False)
                units.append(stored.copy())
        if self.per_row:  # the core's own scans, as written (rows_are_units: no joins)
            for name in ("from_", "joins", "where"):
                stage.set(name, self.tree.args.get(name))
            return stage
        for name, part in bounded_scans(self.tree, self.schemas).items():
            stage.set(name, part)
        stage.group_by(*[k.copy() for k in self.keys], *units, copy=False)
        return stage

    def _sketches(self, digest: exp.Expr) -> exp.Select:
        """`__sketches`: each group's population sketch (`__sketch`, keys as `__sN`), from
        one row per (group, unit). When rows are units that is the scan itself, read
        again (cheaper than holding `__per_unit` for a second reader); else `__per_unit`.
        The digests' check values are read where ingest stored them, else computed."""
        names = [f"__s{i}" for i in range(len(self.keys))]
        keys = [_col(f"__k{i}").as_(name) for i, name in enumerate(names)]
        source = exp.select(*keys, digest.copy().as_("__digest"))
        check = "__digest_check" if self.stored_check is not None else None
        if check is not None:
            source.select(_col(UNIT_CHECK_COLUMN).as_(check), copy=False)
        if self.per_row:
            source.from_(self._per_unit_stage().subquery("__rows"), copy=False)
        else:
            source.from_("__per_unit", copy=False)
        return sketch_per_group(sketch_cells(source, names, "__digest", check), names)

    def _assemble(self) -> Rewrite:
        # every tree here is built fresh, so the builders may change it in place
        # (copy=False): copying the growing query at each step dominated the rewrite
        population = self.figure(exp.Count(this=_col("__unit")))
        stored = self.stored_digest is not None
        digest = _col(UNIT_DIGEST_COLUMN) if stored else unit_digest(_col("__unit"))
        lowest = self.figure(_or_empty(lowest_digests(digest.copy())))
        key_cols = [_col(f"__k{i}") for i in range(len(self.keys))]
        groups = exp.select(*key_cols, *self.figures.values()).from_("__per_unit", copy=False)
        if key_cols:
            groups.group_by(*[k.copy() for k in key_cols], copy=False)
        # a group of at most LOWEST units is its `__lowest` whole: the gate sketches that
        # list itself, and the output stays a list of digests, not ~3 cells a unit
        whole = exp.LTE(this=population.copy(), expression=exp.Literal.number(LOWEST))
        listed = _or_empty(exp.column("__sketch", table="__sketches"))
        sketch = exp.Case(ifs=[exp.If(this=whole, true=exp.Array(expressions=[]))], default=listed)
        outer = exp.select(
            *self.outer, population.as_("__n"), lowest.as_("__lowest"), sketch.as_("__sketch"),
            *self.companions,
        ).from_("__groups", copy=False)  # fmt: skip
        outer.with_("__per_unit", as_=self._per_unit_stage(), copy=False)
        outer.with_("__groups", as_=groups, copy=False)
        outer.with_("__sketches", as_=self._sketches(digest), copy=False)
        matched = [
            exp.NullSafeEQ(this=exp.column(f"__k{i}", table="__groups"),
                           expression=exp.column(f"__s{i}", table="__sketches"))
            for i in range(len(self.keys))
        ]  # fmt: skip
        if matched:
            outer.join("__sketches", on=exp.and_(*matched), join_type="left", copy=False)
        else:  # one row each: the whole table's aggregate
            outer.join("__sketches", join_type="cross", copy=False)
        bound = {"limit": self.limit, "unit": self.unit_schema.privacy_unit}
        bounded = note("rows_are_units", bound) if self.per_row else note("bounded", bound)
        notes: list[str] = [bounded, note("clamped"), note("companions")]
        return Rewrite(outer, self.cells, notes, self.reasons, self.limit, self.per_row)


def rewrite_aggregate(tree: exp.Select, schemas: Mapping[str, DatasetSchema]) -> Rewrite:
    return _Builder(tree, schemas).build()


def public_cells(tree: exp.Query) -> list[OutputCell]:
    return [OutputCell(p.alias_or_name, CellKind.VALUE, Level.L1) for p in tree.selects]
