"""Which integer noise a count or sum gets: the discrete staircase where it has the smaller
expected |error| at the cell's ε and Δ (in units), else the discrete Laplace.

Both are ε-DP for an integer query that moves by at most Δ; the choice is computed from
their exact expected |error|, not assumed. At Δ = 1 (a count with one row per unit) the
staircase has a single step and is the discrete Laplace, so that is what a count gets;
a sum in units of g (Δ ≥ 100) gets the staircase, 4 % less error at ε = 1.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from policies import discrete, staircase

STAIRCASE = "discrete_staircase"
LAPLACE = "discrete_laplace"
NOISES = (STAIRCASE, LAPLACE)
_TAIL = 1e-12  # mass of the count noise left out when a mean's interval is computed
_MAX_SPAN = 200_000  # at most this many count-noise values on each side enter it


@functools.lru_cache(maxsize=256)
def best_mechanism(epsilon: float, units: int) -> str:
    """The staircase if its E|Z| is below the Laplace's at this ε and Δ, else the Laplace
    (at Δ = 1 they are the same distribution)."""
    if units < 2:
        return LAPLACE
    step = staircase.optimal_step(epsilon, units)
    better = staircase.expected_abs(epsilon, units, step) < discrete.expected_abs(epsilon, units)
    return STAIRCASE if better else LAPLACE


@dataclass(frozen=True)
class IntegerNoise:
    """Noise for one integer query: ε, the sensitivity in units, and the mechanism (by
    default the better one for them; a stored decision names its own)."""

    epsilon: float
    units: int
    mechanism: str = ""

    def __post_init__(self) -> None:
        if not self.mechanism:
            object.__setattr__(self, "mechanism", best_mechanism(self.epsilon, self.units))
        elif self.mechanism not in NOISES:
            raise ValueError(f"unknown integer noise {self.mechanism!r}")

    @property
    def step(self) -> int:
        """The staircase's step r (unused by the Laplace)."""
        return staircase.optimal_step(self.epsilon, self.units) if self.units else 0

    def expected_abs(self) -> float:
        """E|Z| in units."""
        if self.units == 0:
            return 0.0
        if self.mechanism == STAIRCASE:
            return staircase.expected_abs(self.epsilon, self.units, self.step)
        return discrete.expected_abs(self.epsilon, self.units)

    def sample(self, size: int) -> np.ndarray:
        if self.mechanism == STAIRCASE:
            return staircase.sample(size, self.epsilon, self.units)
        return discrete.sample(size, self.epsilon, self.units)

    def pmf(self, k: np.ndarray) -> np.ndarray:
        """P(Z = k)."""
        k = np.asarray(k, dtype=np.int64)
        if self.units == 0:
            return np.where(k == 0, 1.0, 0.0)
        if self.mechanism == STAIRCASE:
            return staircase.pmf(k, self.epsilon, self.units, self.step)
        a = discrete.alpha(self.epsilon, self.units)
        return (1 - a) / (1 + a) * np.power(a, np.abs(k).astype(np.float64))

    def cdf(self, k: np.ndarray) -> np.ndarray:
        """P(Z ≤ k)."""
        if self.units == 0:
            return np.where(np.asarray(k) >= 0, 1.0, 0.0)
        if self.mechanism == STAIRCASE:
            return staircase.cdf(k, self.epsilon, self.units, self.step)
        return discrete.cdf(k, discrete.alpha(self.epsilon, self.units))

    def half_width(self, level: float = discrete.LEVEL) -> int:
        """The smallest t with P(|Z| ≤ t) ≥ level."""
        if self.units == 0:
            return 0
        if self.mechanism == STAIRCASE:
            return staircase.half_width(self.epsilon, self.units, self.step, level)
        return discrete.half_width(self.epsilon, self.units, level)


def mean_half_width(g: float, total: IntegerNoise, mean: float, count: IntegerNoise) -> float:
    """The smallest w with P(|g·Zs − mean·Zc| ≤ w) ≥ LEVEL, for the sum's noise Zs (in
    units of g) and the count's Zc, independent.

    A noisy mean (S + g·Zs)/(n + Zc) misses S/n by (g·Zs − mean·Zc)/(n + Zc): this w over
    the group's row count n is its 95 % half-width while n is well above the count
    noise. Computed exactly over the count noise's values (its far tail, below 1e-12, is
    counted as a miss, so w errs on the wide side).
    """
    if mean == 0 or count.units == 0:
        return g * total.half_width()
    span = min(_MAX_SPAN, count.half_width(1 - _TAIL))
    j = np.arange(-span, span + 1)
    weight = count.pmf(j)
    shift = abs(mean) * j.astype(np.float64)

    def coverage(w: float) -> float:
        hi, lo = np.floor((shift + w) / g), np.ceil((shift - w) / g)
        return float(np.sum(weight * (total.cdf(hi) - total.cdf(lo - 1))))

    low, high = 0.0, g * (total.half_width() + 1) + abs(mean) * span
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (low, middle) if coverage(middle) >= discrete.LEVEL else (middle, high)
    return high
