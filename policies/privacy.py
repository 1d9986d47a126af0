"""Differential-privacy noise for aggregates over L3 data: integer noise on fixed-point
values (policies/noise.py picks the discrete staircase or Laplace), planned per column
with its granularity and 95 % interval.

Sensitivities come from schema bounds and each dataset's contribution limit
(both enforced in the rewritten SQL). Groups are disjoint, so one ε covers a
column across all its cells (parallel composition); columns split the query's ε.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from core.cells import AGGREGATES, CellKind
from core.levels import Level
from policies import discrete
from policies.noise import NOISES, IntegerNoise, mean_half_width
from policies.rewrite import OutputCell

SUFFIXES = {
    CellKind.COUNT: "",
    CellKind.SUM: "_fixed_point",
    CellKind.AVG: "_fixed_point_ratio",  # noisy sum over noisy count
}


@dataclass(frozen=True)
class NoiseSpec:
    """How one output column is noised, and how far the noise may take it.

    Fields after `count_sensitivity` are derived from the ones before when absent (as in
    a decision stored before they existed), so every spec states its granularity and
    interval. An average spends ε/2 on its sum and ε/2 on its count.
    """

    column: str
    kind: CellKind  # an aggregate: count, sum or avg
    mechanism: str  # the value noise (noise.NOISES) + the kind's suffix; "" picks the best
    sensitivity: float
    epsilon: float
    count_sensitivity: float = 1.0  # averages: the count's sensitivity (rows per unit)
    granularity: float = 0.0  # g: released counts and sums are whole multiples of it
    ci95: float = 0.0  # 95 % half-width of the error; averages: divide by the group's rows
    ci95_divisor: str = ""  # "rows" for averages, else ""
    count_ci95: float = 0.0  # averages: the noisy count's own half-width (rows)
    # Fixed point (`fine` > 0): the core's `__fx__<column>` is the exact sum in whole units
    # of `fine`, each row clamped to [lower, upper]; noise is then added to exact integers,
    # with an exact sensitivity. An average is centred on (lower + upper)/2 first.
    lower: float = 0.0
    upper: float = 0.0
    fine: float = 0.0

    def __post_init__(self) -> None:
        # read back from a job's stored policy, the kind is plain text again
        kind = CellKind(self.kind)
        set_ = object.__setattr__
        set_(self, "kind", kind)
        if self.granularity <= 0:
            set_(self, "granularity", _granularity(kind, self.sensitivity, self.epsilon))
        elif discrete.power_of_ten_at_most(self.granularity) != self.granularity:
            raise ValueError(f"{self.column}: granularity {self.granularity} is not a power of ten")
        stored = self.mechanism.removesuffix(SUFFIXES[kind])
        known = stored in NOISES and self.mechanism == stored + SUFFIXES[kind]
        noise = IntegerNoise(self.value_epsilon, self.value_units, stored if known else "")
        set_(self, "mechanism", noise.mechanism + SUFFIXES[kind])
        set_(self, "ci95_divisor", "rows" if kind is CellKind.AVG else "")
        if self.ci95 <= 0:
            set_(self, "ci95", self._interval())
        if kind is CellKind.AVG and self.count_ci95 <= 0:
            set_(self, "count_ci95", float(self.count_noise.half_width()))

    @property
    def value_epsilon(self) -> float:
        """The ε spent on the count or sum itself (an average's sum gets half)."""
        return self.epsilon / 2 if self.kind is CellKind.AVG else self.epsilon

    @property
    def fixed_point(self) -> bool:
        return self.fine > 0 and self.kind is not CellKind.COUNT

    @property
    def fine_bounds(self) -> tuple[int, int]:
        """[lower, upper] in whole units of `fine`."""
        return discrete.to_units(self.lower, self.fine), discrete.to_units(self.upper, self.fine)

    @property
    def fine_centre(self) -> Fraction:
        """What an average's rows are centred on, in units of `fine` (0 for a sum)."""
        if self.kind is not CellKind.AVG:
            return Fraction(0)
        k_lo, k_hi = self.fine_bounds
        return Fraction(k_lo + k_hi, 2)

    @property
    def value_units(self) -> int:
        """The count's or sum's sensitivity in units of g. Fixed point: exactly ⌈Δ/g⌉ with
        Δ = m·(the largest |row − centre| in units of `fine`), since the core's integer
        sum moves by at most that. Otherwise (a sum read from a float) a unit of slack."""
        if not self.fixed_point:
            return discrete.units(
                self.sensitivity, self.granularity, self.kind is not CellKind.COUNT
            )
        k_lo, k_hi = self.fine_bounds
        centre = self.fine_centre
        widest = max(abs(k_lo - centre), abs(k_hi - centre))
        rows = Fraction(discrete.units(self.count_sensitivity, 1.0))
        return math.ceil(
            rows * widest * discrete.exact(self.fine) / discrete.exact(self.granularity)
        )

    @property
    def count_units(self) -> int:
        """An average's count sensitivity, in rows."""
        return discrete.units(self.count_sensitivity, 1.0)

    @property
    def value_noise(self) -> IntegerNoise:
        """The noise on the count or sum (an average's sum), in units of g: the mechanism
        the spec names (a stored decision keeps the one it stated)."""
        base = self.mechanism.removesuffix(SUFFIXES[self.kind])
        return IntegerNoise(self.value_epsilon, self.value_units, base)

    @property
    def count_noise(self) -> IntegerNoise:
        """An average's noise on its row count."""
        return IntegerNoise(self.epsilon / 2, self.count_units)

    def _interval(self) -> float:
        """Counts: t. Sums: t·g + g/2 (the exact value was rounded to g). Averages: the
        half-width of the sum's error minus the mean times the count's error, at the
        largest mean the bounds allow (where it is widest), plus g/2; per row."""
        g = self.granularity
        t = self.value_noise.half_width()
        if self.kind is CellKind.COUNT:
            return float(t)
        if self.kind is CellKind.SUM:
            return discrete.round_up(t * g + g / 2)
        widest_mean = self.sensitivity / self.count_sensitivity  # max(|lo|, |hi|)
        w = mean_half_width(g, self.value_noise, widest_mean, self.count_noise)
        return discrete.round_up(w + g / 2)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _granularity(kind: CellKind, sensitivity: float, epsilon: float) -> float:
    """Counts are whole numbers: g = 1. Sums (and an average's sum): discrete.granularity."""
    if kind is CellKind.COUNT:
        return 1.0
    share = epsilon / 2 if kind is CellKind.AVG else epsilon
    return discrete.granularity(sensitivity, share)


def plan_noise(
    cells: list[OutputCell], epsilon: float, every_aggregate: bool = False
) -> list[NoiseSpec]:
    """Noise for every aggregate over an L3 source, or for every aggregate at all (the DP
    regime: an exact count beside a noisy one would make its noise pointless); ε is
    split evenly between them."""
    noisy = [c for c in cells if c.kind in AGGREGATES and (every_aggregate or c.level is Level.L3)]
    if not noisy:
        return []
    share = epsilon / len(noisy)
    return [_spec(c, share) for c in noisy]


def _spec(cell: OutputCell, epsilon: float) -> NoiseSpec:
    """One column's noise. A fixed-point sum's sensitivity is m·max(|lower|, |upper|); an
    average's sum is centred, so its sum moves by at most m·(upper − lower)/2, and the
    mean's error (Zs − centred mean·Zc)/n is smallest in the worst case (a mean at a
    bound) with ε split evenly between sum and count."""
    if cell.fine <= 0 or cell.kind is CellKind.COUNT:
        return NoiseSpec(
            cell.column, cell.kind, "", cell.sensitivity, epsilon,
            cell.count_sensitivity,
        )  # fmt: skip
    lo, hi = discrete.exact(cell.lower), discrete.exact(cell.upper)
    widest = (hi - lo) / 2 if cell.kind is CellKind.AVG else max(abs(lo), abs(hi))
    sensitivity = float(widest * Fraction(cell.count_sensitivity))
    return NoiseSpec(
        cell.column, cell.kind, "", sensitivity, epsilon,
        cell.count_sensitivity, lower=cell.lower, upper=cell.upper, fine=cell.fine,
    )  # fmt: skip


def _whole(value: Any) -> int:
    """A fixed-point total as the core carries it (text), or a filled-in 0."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0
    return int(value)


def _fixed_units(frame: pd.DataFrame, spec: NoiseSpec) -> list[int]:
    """Each row's exact fixed-point total (centred, for an average) rounded to units of g,
    plus integer noise. A group with no values counts as a sum of 0, so whether
    it had any is not released beside the noise."""
    fine = discrete.exact(spec.fine)
    centre = spec.fine_centre
    name = f"__fx__{spec.column}"
    if name not in frame:
        raise KeyError(f"result has no fixed-point companion {name!r} for {spec.column!r}")
    totals = frame[name].tolist()
    rows = frame[f"__cnt__{spec.column}"].tolist() if centre else [0] * len(totals)
    noise = spec.value_noise.sample(len(totals))
    return [
        discrete.to_units_exact((_whole(t) - _whole(n) * centre) * fine, spec.granularity) + int(z)
        for t, n, z in zip(totals, rows, noise.tolist(), strict=True)
    ]


def _noisy_units(values: pd.Series, noise: IntegerNoise, g: float) -> list[int | None]:
    """Each value rounded to whole units of g, plus integer noise; None stays None."""
    draws = noise.sample(len(values))
    return [
        None if pd.isna(v) else discrete.to_units(float(v), g) + int(z)
        for v, z in zip(values.tolist(), draws.tolist(), strict=True)
    ]


def _count(values: pd.Series, noise: IntegerNoise) -> list[int | None]:
    """A noisy count, never below zero (post-processing, so free)."""
    return [None if k is None else max(0, k) for k in _noisy_units(values, noise, 1.0)]


def _column(found: list[Any], index: pd.Index) -> pd.Series:
    if any(v is None for v in found):
        return pd.Series([np.nan if v is None else v for v in found], index=index, dtype=float)
    return pd.Series(found, index=index)


def _fixed_mean(total: int, count: int | None, spec: NoiseSpec) -> float:
    """The centre plus the noisy centred sum over the noisy count, kept within the
    bounds (where the exact mean is, so this only ever moves it closer) and rounded to a
    power of ten ≤ 1/RATIO of this row's half-width."""
    rows = max(count or 0, 1)
    g, fine = discrete.exact(spec.granularity), discrete.exact(spec.fine)
    value = spec.fine_centre * fine + total * g / rows
    step = discrete.power_of_ten_at_most(spec.ci95 / rows / discrete.RATIO)
    rounded = discrete.to_units_exact(value, step) * discrete.exact(step)
    kept = min(max(rounded, discrete.exact(spec.lower)), discrete.exact(spec.upper))
    return float(kept)  # a decimal: the float nearest it prints as it


def _fixed_sum(k: int, spec: NoiseSpec) -> float:
    """k units of g, kept on the side of zero the bounds allow (free post-processing)."""
    if spec.lower >= 0:
        k = max(k, 0)
    if spec.upper <= 0:
        k = min(k, 0)
    return discrete.from_units(k, spec.granularity)


def _mean(total: int | None, count: int | None, spec: NoiseSpec) -> float | None:
    """Noisy sum over noisy count, rounded to a power of ten ≤ 1/RATIO of this row's
    half-width (ci95 / rows): digits below the noise say nothing."""
    if total is None or count is None:
        return None
    rows = max(count, 1)
    p, q = discrete.ratio(spec.granularity)
    row_width = spec.ci95 / rows
    if row_width <= 0:
        return total * p / (q * rows)
    step = discrete.power_of_ten_at_most(row_width / discrete.RATIO)
    return discrete.round_ratio(total * p, q * rows, step)


def _fixed_release(frame: pd.DataFrame, spec: NoiseSpec) -> list[float]:
    """A fixed-point sum's or mean's released values, from the core's exact totals."""
    totals = _fixed_units(frame, spec)
    if spec.kind is CellKind.SUM:
        return [_fixed_sum(k, spec) for k in totals]
    counts = _count(frame[f"__cnt__{spec.column}"], spec.count_noise)
    return [_fixed_mean(t, c, spec) for t, c in zip(totals, counts, strict=True)]


def apply_noise(frame: pd.DataFrame, specs: list[NoiseSpec]) -> pd.DataFrame:
    """Noisy copy of a result table: counts whole, sums whole multiples of their g,
    averages a noisy sum over a noisy count; companions stay exact."""
    noisy = frame.copy()
    for spec in specs:
        if spec.column not in noisy:
            raise KeyError(f"result has no column {spec.column!r} to add noise to")
        index = noisy[spec.column].index
        noise, g = spec.value_noise, spec.granularity
        if spec.fixed_point:
            noisy[spec.column] = _column(_fixed_release(frame, spec), index)
        elif spec.kind is CellKind.COUNT:
            noisy[spec.column] = _column(_count(frame[spec.column], noise), index)
        elif spec.kind is CellKind.SUM:
            found = _noisy_units(frame[spec.column], noise, g)
            released = [None if k is None else discrete.from_units(k, g) for k in found]
            noisy[spec.column] = _column(released, index)
        else:
            totals = _noisy_units(frame[f"__sum__{spec.column}"], noise, g)
            counts = _count(frame[f"__cnt__{spec.column}"], spec.count_noise)
            means = [_mean(t, c, spec) for t, c in zip(totals, counts, strict=True)]
            noisy[spec.column] = _column(means, index)
    return noisy
