"""The discrete staircase mechanism: integer noise with the smallest expected |error| for
an integer query of integer sensitivity Δ at a given ε (Geng, Kairouz, Oh, Viswanath 2015).

Its pmf is flat on steps and drops by e^(−ε) at each step edge. With b = e^(−ε) and a
step parameter r in 1..Δ, writing |k| = jΔ + s (0 ≤ s < Δ):

    P(k) = A · b^level(k),    level(k) = j + [s ≥ r],

so the centre {−(r−1), …, r−1} holds 2r − 1 integers at the top level, and every
further period of Δ integers holds r at one level and Δ − r at the next. Two integers at
most Δ apart are at most one level apart (the proof is `level` itself: within a period
the level rises by at most one, and from one period to the next by exactly one), so
P(k)/P(k + d) ≤ e^ε for |d| ≤ Δ: ε-DP. Summing the geometric series,

    1/A  = 2(r + (Δ − r)b)/(1 − b) − 1
    E|Z| = 2A[Δ(r + (Δ − r)b)·b/(1 − b)² + (r(r − 1)/2 + b(Δ(Δ − 1) − r(r − 1))/2)/(1 − b)]

and the best r is found by evaluating E|Z| for each r. For Δ = 1 the only r is 1 and the
mechanism is the discrete Laplace; for large Δ, r/Δ tends to 1/(1 + e^(ε/2)) and E|Z| to
Δ·e^(ε/2)/(e^ε − 1), which is (ε/2)/sinh(ε/2) of the Laplace's Δ/ε (0.96 at ε = 1).
"""

from __future__ import annotations

import functools
import math
import secrets

import numpy as np

_FULL_SEARCH = 1 << 20  # up to this Δ every r is tried; above, a window around Δ/(1+e^(ε/2))
_WINDOW = 1_000


def _b(epsilon: float) -> tuple[float, float]:
    """b = e^(−ε) and 1 − b, the latter without cancellation for small ε."""
    return math.exp(-epsilon), -math.expm1(-epsilon)


def level(k: np.ndarray, units: int, step: int) -> np.ndarray:
    """How many factors e^(−ε) separate P(k) from P(0): an exact integer."""
    magnitude = np.abs(np.asarray(k, dtype=np.int64))
    return magnitude // units + (magnitude % units >= step)


def top(epsilon: float, units: int, step: int) -> float:
    """A = P(0), the normalising constant."""
    b, one_minus_b = _b(epsilon)
    return 1.0 / (2.0 * (step + (units - step) * b) / one_minus_b - 1.0)


def pmf(k: np.ndarray, epsilon: float, units: int, step: int) -> np.ndarray:
    return top(epsilon, units, step) * np.exp(-epsilon * level(k, units, step))


def _expected_abs(epsilon: float, units: int, steps: np.ndarray) -> np.ndarray:
    b, one_minus_b = _b(epsilon)
    r = steps.astype(np.float64)
    period = r + (units - r) * b  # a period's mass over A, before its factor b^j
    inner, outer = r * (r - 1) / 2, (units * (units - 1) - r * (r - 1)) / 2
    a = 1.0 / (2.0 * period / one_minus_b - 1.0)
    return 2 * a * (units * period * b / one_minus_b**2 + (inner + b * outer) / one_minus_b)


def expected_abs(epsilon: float, units: int, step: int) -> float:
    """E|Z|, in units (closed form: see the module docstring)."""
    return float(_expected_abs(epsilon, units, np.array([step]))[0])


@functools.lru_cache(maxsize=256)
def optimal_step(epsilon: float, units: int) -> int:
    """The r in 1..Δ with the smallest E|Z| (the smallest such r on a tie)."""
    if units <= _FULL_SEARCH:
        steps = np.arange(1, units + 1)
    else:
        centre = round(units / (1 + math.exp(epsilon / 2)))
        steps = np.arange(max(1, centre - _WINDOW), min(units, centre + _WINDOW) + 1)
    return int(steps[int(np.argmin(_expected_abs(epsilon, units, steps)))])


def _one_sided(m: np.ndarray, epsilon: float, units: int, step: int) -> np.ndarray:
    """C(m) = P(0) + … + P(m) for m ≥ −1 (C(−1) = 0)."""
    b, one_minus_b = _b(epsilon)
    a = top(epsilon, units, step)
    m = np.asarray(m, dtype=np.int64)
    j, s = (m + 1) // units, (m + 1) % units  # j whole periods, then s more integers
    periods = a * (step + (units - step) * b) * -np.expm1(-epsilon * j) / one_minus_b
    partial = a * np.exp(-epsilon * j) * (np.minimum(s, step) + b * np.maximum(0, s - step))
    return periods + partial


def cdf(k: np.ndarray, epsilon: float, units: int, step: int) -> np.ndarray:
    """P(Z ≤ k)."""
    k = np.asarray(k, dtype=np.int64)
    half = (1.0 + top(epsilon, units, step)) / 2  # P(Z ≥ 0)
    above = 1.0 - (half - _one_sided(np.maximum(k, -1), epsilon, units, step))
    below = half - _one_sided(np.maximum(-k - 1, -1), epsilon, units, step)
    return np.where(k >= 0, above, below)


def coverage(t: int, epsilon: float, units: int, step: int) -> float:
    """P(|Z| ≤ t) = 2·C(t) − P(0)."""
    c = _one_sided(np.array([t]), epsilon, units, step)[0]
    return float(2 * c - top(epsilon, units, step))


def half_width(epsilon: float, units: int, step: int, level: float) -> int:
    """The smallest t with P(|Z| ≤ t) ≥ level, in units (a binary search: coverage rises
    with t)."""
    low, high = 0, units
    while coverage(high, epsilon, units, step) < level:
        low, high = high, 2 * high
    if coverage(low, epsilon, units, step) >= level:
        return low
    while high - low > 1:  # coverage(low) < level ≤ coverage(high)
        middle = (low + high) // 2
        covered = coverage(middle, epsilon, units, step) >= level
        low, high = (low, middle) if covered else (middle, high)
    return high


def _raw(size: int) -> np.ndarray:
    return np.frombuffer(secrets.token_bytes(8 * size), dtype=np.uint64)


def _unit_interval(size: int, open_at_zero: bool) -> np.ndarray:
    """53-bit uniforms from the CSPRNG: in (0, 1] if open_at_zero, else in [0, 1)."""
    return ((_raw(size) >> np.uint64(11)).astype(np.float64) + float(open_at_zero)) * 2.0**-53


def _below(n: np.ndarray) -> np.ndarray:
    """A uniform integer in [0, n) per entry, exactly: 64 random bits, redrawn while they
    fall in the last partial block of n (2**64 mod n values), then reduced mod n."""
    n = n.astype(np.uint64)
    partial = (np.zeros_like(n) - n) % n  # 2**64 mod n, in wrapping uint64 arithmetic
    out = np.zeros_like(n)
    todo = np.arange(n.size)
    while todo.size:
        raw = _raw(todo.size)
        ok = raw <= ~partial[todo]  # raw < 2**64 − partial
        out[todo[ok]] = raw[ok] % n[todo[ok]]
        todo = todo[~ok]
    return out.astype(np.int64)


def _draw(size: int, epsilon: float, units: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """One try per entry: a period j ≥ 0 (geometric with ratio b), the step in it (its
    first r integers w.p. r/(r + (Δ − r)b)), a uniform integer in that step, a sign.
    Zero is reached from both signs, so the second array marks the negative zeros the
    caller redraws; what is kept has P(k) ∝ b^level(k) on all the integers."""
    b = math.exp(-epsilon)
    period = np.floor(-np.log(_unit_interval(size, True)) / epsilon).astype(np.int64)
    inner = _unit_interval(size, False) < step / (step + (units - step) * b)
    width = np.where(inner, step, units - step)
    offset = np.where(inner, 0, step) + _below(np.maximum(width, 1))
    magnitude = period * units + offset
    negative = (_raw(size) & np.uint64(1)).astype(bool)
    return np.where(negative, -magnitude, magnitude), negative & (magnitude == 0)


def sample(size: int, epsilon: float, units: int) -> np.ndarray:
    """`size` draws of the discrete staircase for ε and Δ in units, at the optimal step.

    Same discipline as `discrete.sample`: bytes of `secrets` (the OS CSPRNG), integers
    out. Two float steps remain: the log of a 53-bit uniform for the period (as there:
    each probability moves by about 2**-50 of itself, and the tail is cut beyond 36.7/ε
    periods) and a 53-bit uniform against the step probability (off by at most 2**-53).
    """
    if units == 0 or size == 0:
        return np.zeros(size, dtype=np.int64)
    step = optimal_step(epsilon, units)
    out = np.zeros(size, dtype=np.int64)
    todo = np.arange(size)
    while todo.size:
        found, again = _draw(todo.size, epsilon, units, step)
        out[todo[~again]] = found[~again]
        todo = todo[again]
    return out
