"""Rewriting a checked query into what runs: row filters, clamps and companions.

Aggregate queries over non-public data become three steps: per privacy unit
and group (clamped, contribution-bounded), ranked per group, then summed per
group with the companion columns the output gate needs (`__n`, `__units`,
`__top1__c`, `__top2__c`, `__abs__c`; `__sum__c` and `__cnt__c` for noisy averages).
COUNT(DISTINCT x) of anything but the privacy unit carries per-unit lists of x
(`__dN`) from the first step to the last, where their union is counted.

`__units` is the group's population for the differencing check (gate/differencing.py):
the distinct units as 8-byte digests, the first half of MD5 over the unit's text. MD5,
SUBSTRING and UNHEX render the same in DuckDB and Spark (`ARRAY_AGG(DISTINCT …)` becomes
`COLLECT_LIST(DISTINCT …)`), so a population computed by either engine, today or after
an upgrade, names the same units; an engine's own `hash()` would not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlglot import exp

from catalog.schema import DatasetSchema
from core.cells import CellKind
from core.errors import Reason
from core.levels import Level
from policies import discrete
from policies.reasons import note, reason
from policies.shape import clause


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


def _clamp(value: exp.Expr, lo: float, hi: float) -> exp.Expr:
    """LEAST(GREATEST(x, lo), hi) in DOUBLE, so sums of integers never become HUGEINT.

    NULL stays NULL: GREATEST and LEAST skip NULL arguments in DuckDB and Spark, so
    without the CASE a missing value would be summed as `lo`."""
    as_double = exp.Cast(this=value.copy(), to=exp.DataType.build("DOUBLE"))
    lower = exp.func("GREATEST", as_double, exp.Literal.number(lo))
    clamped = exp.func("LEAST", lower, exp.Literal.number(hi))
    missing = exp.Is(this=value, expression=exp.Null())
    return exp.Case(ifs=[exp.If(this=missing, true=exp.Null())], default=clamped)


def _bigint(value: exp.Expr) -> exp.Expr:
    """Sums of counts are HUGEINT in DuckDB; keep them plain 64-bit integers."""
    return exp.Cast(this=value, to=exp.DataType.build("BIGINT"))


def _col(name: str) -> exp.Column:
    return exp.column(name)


def unit_digests(unit: exp.Expr) -> exp.Expr:
    """`__units`: the distinct units of a group, each as the 8-byte digest the gate reads."""
    text = exp.Cast(this=unit, to=exp.DataType.build("VARCHAR"))
    half = exp.Substring(
        this=exp.MD5(this=text), start=exp.Literal.number(1), length=exp.Literal.number(16)
    )
    return exp.ArrayAgg(this=exp.Distinct(expressions=[exp.Unhex(this=half)]))


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
    """Builds the three-step aggregate for one simple SELECT ... GROUP BY."""

    def __init__(self, tree: exp.Select, schemas: Mapping[str, DatasetSchema]):
        self.tree = tree
        self.schemas = schemas
        self.aliases = {t.alias_or_name: t.name.lower() for t in tree.find_all(exp.Table)}
        first = tree.args["from_"].this if "from_" in tree.args else tree.args["from"].this
        self.unit_dataset = self.aliases[first.alias_or_name]
        self.unit_schema = schemas[self.unit_dataset]
        self.unit = exp.column(self.unit_schema.privacy_unit, table=first.alias_or_name)
        scanned = [schemas[name] for name in self.aliases.values() if name in schemas]
        # rows per unit after every scan is bounded; a join multiplies the bounds
        self.limit = 1
        for schema in scanned:
            self.limit *= schema.contribution_limit
        self.keys = list(tree.args["group"].expressions) if tree.args.get("group") else []
        self.inner: list[exp.Expr] = []
        self.outer: list[exp.Expr] = []
        self.companions: list[exp.Expr] = []
        self.ranks: list[exp.Expr] = []
        self.cells: list[OutputCell] = []
        self.reasons: list[Reason] = []

    def key_ref(self, node: exp.Expr) -> exp.Expr | None:
        for index, key in enumerate(self.keys):
            if node == key:
                return _col(f"__k{index}")
        return None

    def spec(self, column: exp.Column):
        dataset = self.aliases.get(column.table, "")
        schema = self.schemas.get(dataset)
        return dataset, schema.column(column.name) if schema else None

    def add_aggregate(self, index: int, node: exp.Expr, name: str) -> exp.Expr | None:
        """Inner per-unit parts and the outer reconstruction of one aggregate."""
        m = self.limit
        cells = self.cells
        if isinstance(node, exp.Count):
            arg = node.this
            if isinstance(arg, exp.Distinct):
                return self.count_distinct(index, arg, name)
            counted = (
                exp.Count(this=arg.copy())
                if not isinstance(arg, exp.Star)
                else exp.Count(this=exp.Star())
            )
            self.inner.append(exp.func("LEAST", counted, exp.Literal.number(m)).as_(f"__c{index}"))
            level = self._level(arg)
            cells.append(OutputCell(name, CellKind.COUNT, level, self._src(arg), float(m)))
            return _bigint(
                exp.func("COALESCE", exp.Sum(this=_col(f"__c{index}")), exp.Literal.number(0))
            )
        if isinstance(node, exp.Sum | exp.Avg):
            column = node.this
            dataset, spec = self.spec(column) if isinstance(column, exp.Column) else ("", None)
            if spec is None or spec.bounds is None:
                self.reasons.append(reason("needs_bounds", name=name))
                return None
            lo, hi = spec.bounds
            per_unit = exp.Sum(this=_clamp(column.copy(), lo, hi))
            self.inner.append(_clamp(per_unit, lo * m, hi * m).as_(f"__s{index}"))
            self.inner.append(
                exp.func("LEAST", exp.Count(this=column.copy()), exp.Literal.number(m)).as_(
                    f"__c{index}"
                )
            )
            order = exp.Ordered(this=exp.Abs(this=_col(f"__s{index}")), desc=True)
            window = exp.Window(
                this=exp.RowNumber(),
                partition_by=[_col(f"__k{i}") for i in range(len(self.keys))],
                order=exp.Order(expressions=[order]),
            )
            self.ranks.append(window.as_(f"__r{index}"))
            self._contribution_companions(index, name)
            kind = CellKind.SUM if isinstance(node, exp.Sum) else CellKind.AVG
            sensitivity = max(abs(lo), abs(hi)) * m
            source = f"{dataset}.{spec.name}"
            fine, k_lo, k_hi = self._fixed_point(index, name, column, lo, hi)
            lower, upper = discrete.from_units(k_lo, fine), discrete.from_units(k_hi, fine)
            cells.append(
                OutputCell(
                    name, kind, spec.level, source, sensitivity, False, float(m),
                    lower=lower, upper=upper, fine=fine,
                )
            )  # fmt: skip
            total = exp.Sum(this=_col(f"__s{index}"))
            if kind is CellKind.SUM:
                return total
            count = exp.Nullif(
                this=exp.Sum(this=_col(f"__c{index}")), expression=exp.Literal.number(0)
            )
            return exp.Div(this=total, expression=count)
        if isinstance(node, exp.Min | exp.Max):
            self.inner.append(type(node)(this=node.this.copy()).as_(f"__v{index}"))
            self.cells.append(OutputCell(name, CellKind.VALUE, self._level(node.this)))
            return type(node)(this=_col(f"__v{index}"))
        function = type(node).__name__.upper()
        self.reasons.append(reason("aggregate_not_supported", name=name, function=function))
        return None

    def count_distinct(self, index: int, arg: exp.Distinct, name: str) -> exp.Expr | None:
        """COUNT(DISTINCT x) as SQL means it, always noised (an L3 cell).

        Of the privacy unit, it counts units (`__unit`). Of anything else, it is the real
        distinct count, rebuilt from per-unit lists of non-null values (a distinct count
        cannot be summed from per-unit counts). Its sensitivity is the same m: a unit
        keeps at most m rows after the scan bound, and each row adds at most one value to
        one group, so adding or removing the unit moves the distinct counts of all groups
        together by at most m. Noise is needed even for an L1 x: the exact count would
        say how many of the group's x-cells are non-empty, small ones included, which
        the threshold suppresses everywhere else. Several expressions are refused: that
        counts combinations, which the lists cannot hold portably.
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
            return exp.Count(this=exp.Distinct(expressions=[_col("__unit")]))
        present = exp.Where(this=exp.Not(this=exp.Is(this=counted.copy(), expression=exp.Null())))
        listed_values = exp.Filter(this=exp.ArrayAgg(this=counted.copy()), expression=present)
        self.inner.append(listed_values.as_(f"__d{index}"))
        self.cells.append(OutputCell(name, CellKind.COUNT, Level.L3, source, float(m)))
        merged = exp.ArrayDistinct(this=exp.Flatten(this=exp.ArrayAgg(this=_col(f"__d{index}"))))
        return _bigint(exp.func("COALESCE", exp.ArraySize(this=merged), exp.Literal.number(0)))

    def _fixed_point(
        self, index: int, name: str, column: exp.Expr, lo: float, hi: float
    ) -> tuple[float, int, int]:
        """`__fx__<name>`: the group's sum in whole units of a fine granularity, exact.

        Each row is clamped, scaled and rounded to an integer, then clamped again to the
        integer bounds [k_lo, k_hi], so a unit's rows (at most m of them, over all groups)
        move the integer total by at most m·max(|k_lo|, |k_hi|) whatever the float steps
        did: the noise's sensitivity is that integer, with no slack (policies/privacy.py).
        Summed in DECIMAL(38, 0) and carried as text, so no engine overflows or rounds it.
        """
        fine = discrete.fine_granularity(max(abs(lo), abs(hi)))
        k_lo, k_hi = discrete.to_units(float(lo), fine), discrete.to_units(float(hi), fine)
        p, q = discrete.ratio(fine)
        scaled = _clamp(column.copy(), lo, hi)
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
        present = exp.Where(this=exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null())))
        per_unit = exp.Filter(this=exp.Sum(this=bounded), expression=present)
        self.inner.append(per_unit.as_(f"__f{index}"))
        wide = exp.Cast(this=_col(f"__f{index}"), to=exp.DataType.build("DECIMAL(38, 0)"))
        total = exp.func("COALESCE", exp.Sum(this=wide), exp.Literal.number(0))
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

    def _contribution_companions(self, index: int, name: str) -> None:
        s, r = _col(f"__s{index}"), _col(f"__r{index}")
        for rank in (1, 2):
            case = exp.Case(
                ifs=[
                    exp.If(
                        this=exp.EQ(this=r.copy(), expression=exp.Literal.number(rank)),
                        true=exp.Abs(this=s.copy()),
                    )
                ]
            )
            top = exp.func("COALESCE", exp.Max(this=case), exp.Literal.number(0))
            self.companions.append(top.as_(f"__top{rank}__{name}"))
        self.companions.append(exp.Sum(this=exp.Abs(this=s.copy())).as_(f"__abs__{name}"))
        self.companions.append(exp.Sum(this=s.copy()).as_(f"__sum__{name}"))
        self.companions.append(_bigint(exp.Sum(this=_col(f"__c{index}"))).as_(f"__cnt__{name}"))

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
        for index, key in enumerate(self.keys):
            self.inner.append(key.copy().as_(f"__k{index}"))
        for index, projection in enumerate(self.tree.selects):
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
            rebuilt = self.add_aggregate(index, body, name)
            if rebuilt is not None:
                self.outer.append(rebuilt.as_(name))
        return self._assemble()

    def _bounded_scans(self, inner: exp.Select) -> None:
        """FROM, JOINs and WHERE of the core, each dataset scan keeping at most
        `contribution_limit` rows per privacy unit (so no unit weighs more than the
        noise assumes, however many groups its rows fall into). The bound sits inside
        each scan, so a LEFT JOIN keeps its unmatched rows."""

        def bound(node: exp.Expr) -> exp.Expr:
            if not (isinstance(node, exp.Table) and node.name.lower() in self.schemas):
                return node
            schema = self.schemas[node.name.lower()]
            unit = exp.column(schema.privacy_unit)
            order = exp.Order(expressions=[exp.Ordered(this=unit.copy())])
            number = exp.Window(this=exp.RowNumber(), partition_by=[unit], order=order)
            numbered = exp.select("*", number.as_("__row")).from_(exp.table_(node.name), copy=False)
            limit = exp.Literal.number(schema.contribution_limit)
            kept = exp.select("*").from_(numbered.subquery("__numbered", copy=False), copy=False)
            kept.where(exp.LTE(this=exp.column("__row"), expression=limit), copy=False)
            return kept.subquery(node.alias_or_name, copy=False)

        from_ = clause(self.tree, "from")
        assert from_ is not None
        inner.set("from_", from_.transform(bound))
        inner.set("joins", [join.transform(bound) for join in self.tree.args.get("joins") or []])
        inner.set("where", self.tree.args.get("where"))

    def _assemble(self) -> Rewrite:
        # every tree here is built fresh, so the builders may change it in place
        # (copy=False): copying the growing query at each step dominated the rewrite
        inner = exp.select(*self.inner, self.unit.copy().as_("__unit"))
        self._bounded_scans(inner)
        inner.group_by(*[k.copy() for k in self.keys], self.unit.copy(), copy=False)
        ranked = exp.select("*", *self.ranks).from_("__per_unit", copy=False)
        key_cols = [_col(f"__k{i}") for i in range(len(self.keys))]
        outer = exp.select(
            *self.outer,
            exp.Count(this=exp.Distinct(expressions=[_col("__unit")])).as_("__n"),
            unit_digests(_col("__unit")).as_("__units"),
            *self.companions,
        ).from_("__ranked", copy=False)
        if key_cols:
            outer.group_by(*key_cols, copy=False)
        outer.with_("__per_unit", as_=inner, copy=False)
        outer.with_("__ranked", as_=ranked, copy=False)
        bound = {"limit": self.limit, "unit": self.unit_schema.privacy_unit}
        notes: list[str] = [note("bounded", bound), note("clamped"), note("companions")]
        return Rewrite(outer, self.cells, notes, self.reasons, self.limit)


def rewrite_aggregate(tree: exp.Select, schemas: Mapping[str, DatasetSchema]) -> Rewrite:
    return _Builder(tree, schemas).build()


def public_cells(tree: exp.Query) -> list[OutputCell]:
    return [OutputCell(p.alias_or_name, CellKind.VALUE, Level.L1) for p in tree.selects]
