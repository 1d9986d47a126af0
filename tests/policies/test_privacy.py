"""Differential-privacy noise: the right mechanism, at the right scale, on the right columns."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from core.levels import Level
from policies import discrete
from policies.noise import IntegerNoise
from policies.privacy import NoiseSpec, apply_noise, plan_noise
from policies.rewrite import OutputCell

DRAWS = 4000


def _frame(value: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "s": [value] * DRAWS,
            "c": [500] * DRAWS,
            "a": [50.0] * DRAWS,
            "__sum__a": [25_000.0] * DRAWS,
            "__cnt__a": [500] * DRAWS,
        }
    )


def test_noise_scale_is_sensitivity_over_epsilon() -> None:
    noisy = apply_noise(_frame(1_000.0), [NoiseSpec("s", "sum", "laplace", 100.0, 0.5)])
    deviation = (noisy["s"] - 1_000.0).abs().mean()  # about E|Laplace(b)| = b = 100 / 0.5
    assert deviation == pytest.approx(200.0, rel=0.15)


def test_geometric_counts_stay_whole_and_non_negative() -> None:
    noisy = apply_noise(_frame(0.0), [NoiseSpec("c", "count", "geometric", 1.0, 1.0)])
    counts = noisy["c"].to_numpy(dtype=float)
    assert np.all(counts == np.round(counts)) and counts.min() >= 0
    assert 0.2 < np.abs(counts - 500).mean() < 2.0


def test_average_is_noisy_sum_over_noisy_count() -> None:
    spec = NoiseSpec("a", "avg", "laplace+geometric", 1_000.0, 1.0, count_sensitivity=1.0)
    noisy = apply_noise(_frame(0.0), [spec])
    assert noisy["a"].median() == pytest.approx(50.0, abs=1.0)
    assert noisy["a"].std() > 0.5  # noise is really there


def test_plan_noises_only_l3_aggregates_and_splits_epsilon() -> None:
    cells = [
        OutputCell("district", "group_key", Level.L1),
        OutputCell("n", "count", Level.L1, sensitivity=1.0),
        OutputCell("w", "avg", Level.L3, "eu.water_fee", 1e6, count_sensitivity=2.0),
        OutputCell("g", "sum", Level.L3, "eu.gas_fee", 5e6),
        OutputCell("c", "sum", Level.L2, "eu.capital", 1e8),
    ]
    plan = plan_noise(cells, 1.0)
    assert [(p.column, p.epsilon) for p in plan] == [("w", 0.5), ("g", 0.5)]
    assert plan[0].count_sensitivity == 2.0


def test_missing_column_is_an_error_not_a_silent_release() -> None:
    with pytest.raises(KeyError):
        apply_noise(_frame(0.0), [NoiseSpec("absent", "sum", "laplace", 1.0, 1.0)])


# ---------------------------------------------------------------- integer noise on fixed point


def _exact(value: float) -> Fraction:
    return Fraction(repr(float(value)))  # the decimal a released float prints as


@pytest.mark.parametrize(
    ("sensitivity", "epsilon", "g"),
    [(1e6, 0.5, 1e4), (1e6, 5.0, 1e3), (0.5, 1.0, 0.001), (100.0, 10.0, 0.1), (5000.0, 0.01, 10.0)],
)
def test_granularity_is_a_power_of_ten_well_below_noise_and_sensitivity(
    sensitivity: float, epsilon: float, g: float
) -> None:
    assert discrete.granularity(sensitivity, epsilon) == g
    assert NoiseSpec("s", "sum", "", sensitivity, epsilon).granularity == g
    assert NoiseSpec("c", "count", "", 3.0, epsilon).granularity == 1.0


@pytest.mark.parametrize(("sensitivity", "epsilon"), [(1e6, 0.5), (0.5, 1.0), (1_000.0, 0.2)])
def test_released_sums_are_exact_multiples_of_g(sensitivity: float, epsilon: float) -> None:
    spec = NoiseSpec("s", "sum", "", sensitivity, epsilon)
    true = [0.1 + 0.2, 12_345.678901234, -7.0000001, 1e9 / 3]  # low bits everywhere
    frame = pd.DataFrame({"s": true * 500})
    released = apply_noise(frame, [spec])["s"]
    g = _exact(spec.granularity)
    assert all((_exact(v) / g).denominator == 1 for v in released)
    # values closer than g round to the same units: the release cannot tell them apart
    assert discrete.to_units(12_345.678901234, spec.granularity) == discrete.to_units(
        12_345.678901235, spec.granularity
    )


def test_released_means_are_rounded_to_what_the_noise_justifies() -> None:
    spec = NoiseSpec("a", "avg", "", 1e6, 1.0)
    frame = pd.DataFrame(
        {"a": [0.0] * 500, "__sum__a": [500 * 123_456.789] * 500, "__cnt__a": [500] * 500}
    )
    released = apply_noise(frame, [spec])["a"]
    # half-width ≈ ci95/500 rows ≈ 16,000: published to the hundred
    assert all((_exact(v) / 100).denominator == 1 for v in released)
    assert released.std() > 100


def _dlap_variance(epsilon: float, units: int) -> float:
    a = math.exp(-epsilon / units)
    return 2 * a / (1 - a) ** 2


CASES = {
    "count": (NoiseSpec("c", "count", "", 2.0, 0.3), "c", 400.0),
    "sum": (NoiseSpec("s", "sum", "", 1e6, 0.5), "s", 123_450_000.0),
}


@pytest.mark.parametrize("case", CASES)
def test_noise_in_units_of_g_follows_the_planned_mechanism(case: str) -> None:
    """Counts (Δ = 2 here) and sums get the mechanism their spec names, at its ε."""
    spec, column, true = CASES[case]
    assert spec.value_noise.mechanism == "discrete_staircase"  # Δ ≥ 2: it beats the Laplace
    # 80,000 draws: the sample variance's relative error is 0.8 % (the noise's kurtosis is
    # about 6), so the 6 % band below is 7.6 of them; at 20,000 it was 3.8, and the
    # variance of a heavy-tailed sample errs high more often than a normal's would
    draws = 80_000
    released = apply_noise(pd.DataFrame({column: [true] * draws}), [spec])[column]
    units = (released.to_numpy() - true) / spec.granularity
    assert np.all(units == np.round(units))  # whole units of g, nothing in between
    k = np.arange(-60 * spec.value_units, 60 * spec.value_units)  # far beyond 60·Δ/ε: < 1e-7
    pmf = spec.value_noise.pmf(k)
    variance = float(np.sum(pmf * k.astype(float) ** 2))
    assert abs(units.mean()) < 5 * math.sqrt(variance / draws)
    assert units.var() == pytest.approx(variance, rel=0.06)
    assert np.mean(units == 0) == pytest.approx(pmf[k == 0].item(), abs=0.01)


def test_accuracy_is_that_of_float_laplace_at_the_same_epsilon() -> None:
    """The float mechanism it replaces had standard deviation √2·Δ/ε; report the ratio."""
    spec = NoiseSpec("s", "sum", "", 1e6, 0.5)
    released = apply_noise(pd.DataFrame({"s": [5e8] * 20_000}), [spec])["s"]
    ratio = float(np.sqrt(((released - 5e8) ** 2).mean())) / (math.sqrt(2) * 1e6 / 0.5)
    print(f"rmse ratio integer/float = {ratio:.3f}")
    assert 0.95 < ratio < 1.07  # 1.01 expected: ⌊Δ/g⌋ + 1 units of slack


@pytest.mark.parametrize(
    ("epsilon", "units"), [(0.1, 1), (0.5, 1), (1.0, 1), (0.5, 12), (2.0, 101), (1e-3, 5)]
)
def test_half_width_is_the_smallest_covering_95_percent(epsilon: float, units: int) -> None:
    t = discrete.half_width(epsilon, units)
    a = math.exp(-epsilon / units)
    covered = lambda t: 1 - 2 * a ** (t + 1) / (1 + a)  # noqa: E731
    assert covered(t) >= 0.95 and (t == 0 or covered(t - 1) < 0.95)


def _coverage(spec: NoiseSpec, frame: pd.DataFrame, true: float, per_rows: int = 1) -> float:
    released = apply_noise(frame, [spec])[spec.column]
    return float(((released - true).abs() <= spec.ci95 / per_rows).mean())


def test_ci95_covers_95_percent_of_released_counts_sums_and_means() -> None:
    draws, rows = 4_000, 400
    count = NoiseSpec("c", "count", "", 1.0, 0.1)
    total = NoiseSpec("s", "sum", "", 1e6, 0.5)
    mean = NoiseSpec("a", "avg", "", 1e6, 1.0)
    counts = pd.DataFrame({"c": [rows] * draws})
    sums = pd.DataFrame({"s": [rows * 654_321.5] * draws})
    at_bound = pd.DataFrame(
        {"a": [0.0] * draws, "__sum__a": [rows * 1e6] * draws, "__cnt__a": [rows] * draws}
    )
    for found in (
        _coverage(count, counts, rows),
        _coverage(total, sums, rows * 654_321.5),
        _coverage(mean, at_bound, 1e6, rows),  # the mean at its bound: where ci95 is tight
    ):
        assert 0.93 <= found <= 0.97
    # anywhere else within the bounds the interval is a bound: it covers more
    midway = at_bound.assign(__sum__a=rows * 5e5)
    assert _coverage(mean, midway, 5e5, rows) >= 0.95


def test_a_stored_spec_without_granularity_gets_it_and_integer_noise() -> None:
    old = {  # a decision recorded before granularity and intervals existed
        "column": "s",
        "kind": "sum",
        "mechanism": "laplace",
        "sensitivity": 1e6,
        "epsilon": 0.5,
        "count_sensitivity": 1.0,
    }
    spec = NoiseSpec(**old)  # type: ignore[arg-type]
    assert spec.mechanism == "discrete_staircase_fixed_point"  # the best for Δ = 100 units
    assert spec.granularity == 1e4 and spec.ci95 > 0
    assert NoiseSpec(**spec.to_dict()) == spec
    with pytest.raises(ValueError, match="power of ten"):
        NoiseSpec(**{**old, "granularity": 3.0})  # type: ignore[arg-type]


def test_a_stored_spec_keeps_the_mechanism_it_stated() -> None:
    """A job checked before the staircase existed is noised as its decision said."""
    stated = NoiseSpec("s", "sum", "discrete_laplace_fixed_point", 1e6, 0.5)
    assert stated.mechanism == "discrete_laplace_fixed_point"
    released = apply_noise(pd.DataFrame({"s": [5e8] * 20_000}), [stated])["s"]
    units = (released.to_numpy() - 5e8) / stated.granularity
    laplace = IntegerNoise(0.5, stated.value_units, "discrete_laplace")
    stairs = IntegerNoise(0.5, stated.value_units, "discrete_staircase")
    inner = stairs.step - 1  # the staircase's flat centre: where the two differ most

    def central(noise: IntegerNoise) -> float:
        return float(noise.cdf(np.array([inner]))[0] - noise.cdf(np.array([-inner - 1]))[0])

    assert abs(central(stairs) - central(laplace)) > 0.02  # the two can be told apart
    assert np.mean(np.abs(units) <= inner) == pytest.approx(central(laplace), abs=0.012)
