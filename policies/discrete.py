"""Integer noise on fixed-point values: the discrete Laplace mechanism, the granularity
it runs at, and its 95 % intervals.

Why: a float Laplace sample added to a float leaves the exact value readable in the low
bits of the sum (Mironov 2012; Haney et al. 2022). Here the exact value is rounded to a
whole number of units of a granularity g (a power of ten), integer noise is added in
those units, and what is released is that integer times g: a function of integers only.
"""

from __future__ import annotations

import functools
import math
import secrets
from fractions import Fraction

import numpy as np

RATIO = 100  # g is at most a hundredth of the noise scale and of the sensitivity
FINE_DIGITS = 9  # the core sums measures in units of a bound's 10**-9 (about)
LEVEL = 0.95  # the intervals' coverage


def exact(x: float) -> Fraction:
    """A float as the shortest decimal it stands for (0.001, not the binary nearest it)."""
    return Fraction(repr(float(x)))


def power_of_ten_at_most(x: float) -> float:
    """The largest power of ten ≤ x (x > 0), checked in exact arithmetic."""
    e = math.floor(math.log10(x))
    while Fraction(10) ** e > exact(x):
        e -= 1
    while Fraction(10) ** (e + 1) <= exact(x):
        e += 1
    return float(Fraction(10) ** e)


def granularity(sensitivity: float, epsilon: float) -> float:
    """g for a sum: a power of ten at most 1/RATIO of both the noise scale Δ/ε and Δ.

    Below the noise scale, rounding to g and drawing whole units of g cost nothing
    visible (the rounding error is under 1/200 of the noise scale); below Δ, rounding Δ
    up to whole units of g (⌈Δ/g⌉) widens the noise by under 1 %.
    """
    if sensitivity <= 0:
        return 1.0
    return power_of_ten_at_most(min(sensitivity, sensitivity / epsilon) / RATIO)


def fine_granularity(bound: float) -> float:
    """The unit the private core sums a measure in: a power of ten about 10**-FINE_DIGITS
    of its largest absolute bound, so a row's value is at most ~10**10 units (exact in
    BIGINT and in a float) and rounding a row to it moves it by under 10**-9 of the bound."""
    if bound <= 0:
        return 1.0
    return power_of_ten_at_most(bound / 10**FINE_DIGITS)


def to_units_exact(value: Fraction, g: float) -> int:
    """⌊value/g + 1/2⌋ for an exact rational value."""
    return math.floor(value / exact(g) + Fraction(1, 2))


def units(sensitivity: float, g: float, slack: bool = False) -> int:
    """The sensitivity in whole units of g: ⌈Δ/g⌉, which bounds how far `to_units` of an
    exact value can move. With `slack`, ⌊Δ/g⌋ + 1: one more whenever Δ is a whole number
    of units, so a float sum a hair off its exact value (Casacuberta et al. 2022) still
    cannot cross one more rounding boundary; it widens the noise by under 1/RATIO."""
    in_units = Fraction(sensitivity) / exact(g)
    return math.floor(in_units) + 1 if slack else math.ceil(in_units)


def alpha(epsilon: float, sensitivity_units: int) -> float:
    """The discrete Laplace's ratio e^(−ε/Δ): P(Z = k) ∝ alpha^|k|."""
    return 0.0 if sensitivity_units == 0 else math.exp(-epsilon / sensitivity_units)


def sample(size: int, epsilon: float, sensitivity_units: int) -> np.ndarray:
    """`size` draws of the discrete Laplace (two-sided geometric) for ε and Δ in units.

    Drawn with numpy from bytes of `secrets` (the operating system's CSPRNG), not from
    diffprivlib's `Geometric`: vectorised (a table, or a test of thousands of draws, in
    one call, without importing scikit-learn) and integer throughout, where diffprivlib
    draws one value per Python call and adds the noise in float64, exact only to 2**53.
    Each side is ⌊E⌋ for E exponential with rate ε/Δ, which is geometric with ratio
    e^(−ε/Δ); their difference is discrete Laplace. The only float step is the log of a
    53-bit uniform, which moves each integer's probability by about 2**-50 of itself and
    cuts the tail beyond 36.7·Δ/ε (probability below 1e-16); no released digit depends on
    it, since the output is an integer. Exact rational sampling (Canonne, Kamath and
    Steinke 2020, as in OpenDP) would remove even that; OpenDP is not installed here.
    """
    if sensitivity_units == 0 or size == 0:
        return np.zeros(size, dtype=np.int64)
    rate = epsilon / sensitivity_units
    raw = np.frombuffer(secrets.token_bytes(16 * size), dtype=np.uint64).reshape(2, size)
    uniform = ((raw >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53  # in (0, 1]
    sides = np.floor(-np.log(uniform) / rate).astype(np.int64)
    return sides[0] - sides[1]


@functools.lru_cache(maxsize=256)
def ratio(g: float) -> tuple[int, int]:
    """A power of ten (or any decimal) as p/q in lowest terms."""
    found = exact(g)
    return found.numerator, found.denominator


def to_units(value: float, g: float) -> int:
    """⌊value/g + 1/2⌋ in exact integer arithmetic: monotone, so ⌈Δ/g⌉ bounds how far it
    moves when the value moves by Δ."""
    n, d = value.as_integer_ratio()
    p, q = ratio(g)
    return (2 * n * q + d * p) // (2 * d * p)


def from_units(k: int, g: float) -> float:
    """k·g as the float nearest that decimal (int division rounds correctly), so it
    prints as the decimal itself."""
    p, q = ratio(g)
    return k * p / q


def round_ratio(numerator: int, denominator: int, g: float) -> float:
    """numerator/denominator rounded to a whole multiple of g, as `from_units` gives it."""
    p, q = ratio(g)
    k = (2 * numerator * q + denominator * p) // (2 * denominator * p)
    return from_units(k, g)


def cdf(k: np.ndarray, a: float) -> np.ndarray:
    """P(Z ≤ k) for the discrete Laplace with ratio a."""
    k = np.asarray(k, dtype=np.float64)
    above = 1.0 - np.power(a, np.maximum(k, -1.0) + 1.0) / (1.0 + a)
    below = np.power(a, np.maximum(-k, 0.0)) / (1.0 + a)
    return np.where(k >= 0, above, below)


def expected_abs(epsilon: float, sensitivity_units: int) -> float:
    """E|Z| in units: 2a/(1 − a²)."""
    a = alpha(epsilon, sensitivity_units)
    return 2 * a / (1 - a * a)


def half_width(epsilon: float, sensitivity_units: int, level: float = LEVEL) -> int:
    """The smallest t with P(|Z| ≤ t) ≥ level, in units: 1 − 2a^(t+1)/(1+a) ≥ level."""
    a = alpha(epsilon, sensitivity_units)
    if a == 0.0:
        return 0
    t = max(0, math.ceil(math.log((1 - level) / 2 * (1 + a)) / math.log(a)) - 1)
    while t > 0 and 1 - 2 * a**t / (1 + a) >= level:  # float slack in the log: step back
        t -= 1
    while 1 - 2 * a ** (t + 1) / (1 + a) < level:
        t += 1
    return t


def round_up(x: float, digits: int = 3) -> float:
    """x rounded up to `digits` significant digits: a stated half-width never shrinks."""
    if x <= 0:
        return 0.0
    step = Fraction(10) ** (math.floor(math.log10(x)) - digits + 1)
    return float(math.ceil(Fraction(x) / step) * step)
