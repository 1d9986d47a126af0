"""The discrete staircase mechanism (policies/staircase.py) is ε-DP and is what it says.

Three proofs, each of which fails for a mechanism that is not: the exact pmf ratios over
every shift up to Δ; neighbouring datasets through a real DuckDB core, release buckets
compared over many draws; the CSPRNG sampler against its own pmf. And the precision
point: what is released stays a whole number times g.
"""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from catalog.schema import parse_schema
from core.levels import Level
from policies import discrete, staircase
from policies.engine import LicenseScope, check_query
from policies.noise import IntegerNoise
from policies.privacy import NoiseSpec, apply_noise

CASES = [(1.0, 100), (0.5, 500), (0.5, 100), (2.0, 10), (0.1, 3), (1.0, 2), (3.0, 7)]
ALPHA = 1e-6  # a chi-square test this far in its tail is a broken sampler, not bad luck


@pytest.mark.parametrize(("epsilon", "units"), CASES)
def test_every_shift_up_to_delta_changes_the_pmf_by_at_most_e_to_the_epsilon(
    epsilon: float, units: int
) -> None:
    """P(k) ≤ e^ε·P(k + d) for all |d| ≤ Δ over forty periods either side of 0: exactly,
    on the integer levels (P(k) = A·e^(−ε·level(k))), and on the float pmf itself."""
    step = staircase.optimal_step(epsilon, units)
    k = np.arange(-40 * units, 40 * units + 1)
    levels = staircase.level(k, units, step)
    pmf = staircase.pmf(k, epsilon, units, step)
    bound = math.exp(epsilon) * (1 + 1e-12)
    for d in range(-units, units + 1):
        shifted = staircase.level(k + d, units, step)
        assert np.all(np.abs(shifted - levels) <= 1), d
        moved = staircase.pmf(k + d, epsilon, units, step)
        assert np.all(pmf <= bound * moved), d
    # the check has teeth: one step beyond Δ, some ratio is e^(2ε)
    beyond = staircase.level(k + units + 1, units, step)
    assert np.any(beyond - levels == 2)


@pytest.mark.parametrize(("epsilon", "units"), CASES)
def test_closed_forms_agree_with_the_pmf_summed(epsilon: float, units: int) -> None:
    """The normaliser, E|Z|, the cdf and the 95 % half-width, against direct sums."""
    noise = IntegerNoise(epsilon, units, staircase_name := "discrete_staircase")
    assert noise.mechanism == staircase_name
    periods = math.ceil(60 / epsilon)  # the mass left out is below e^-60
    k = np.arange(-periods * units, periods * units + 1)
    pmf = noise.pmf(k)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
    assert noise.expected_abs() == pytest.approx(float(np.sum(np.abs(k) * pmf)), rel=1e-9)
    assert np.allclose(noise.cdf(k), np.cumsum(pmf), atol=1e-9)
    t = noise.half_width()
    covered = lambda t: float(pmf[np.abs(k) <= t].sum())  # noqa: E731
    assert covered(t) >= 0.95 > covered(t - 1)


@pytest.mark.parametrize(("epsilon", "units"), CASES)
def test_the_chosen_noise_never_has_more_expected_error_than_the_laplace(
    epsilon: float, units: int
) -> None:
    noise = IntegerNoise(epsilon, units)
    laplace = discrete.expected_abs(epsilon, units)
    assert noise.expected_abs() <= laplace
    if units == 1:  # one step: the staircase is the Laplace, and the Laplace is used
        assert noise.mechanism == "discrete_laplace"


@pytest.mark.parametrize("epsilon", [0.5, 1.0, 2.0])
def test_for_a_large_delta_the_error_is_that_of_the_continuous_staircase(epsilon: float) -> None:
    """E|Z| → Δ·e^(ε/2)/(e^ε − 1) (Geng and Viswanath's optimum), 0.96·Δ/ε at ε = 1."""
    units = 1000
    optimum = units * math.exp(epsilon / 2) / math.expm1(epsilon)
    assert IntegerNoise(epsilon, units).expected_abs() == pytest.approx(optimum, rel=1e-3)
    step = staircase.optimal_step(epsilon, units)
    assert step / units == pytest.approx(1 / (1 + math.exp(epsilon / 2)), abs=2e-3)


def _chi_square_p(draws: np.ndarray, noise: IntegerNoise) -> float:
    """Each integer with ≥ 20 expected draws is a bin; the rest form two tail bins."""
    k = np.arange(-80 * noise.units, 80 * noise.units + 1)
    expected = noise.pmf(k) * draws.size
    kept = k[expected >= 20]
    low, high = kept.min(), kept.max()
    observed = np.bincount(draws[(draws >= low) & (draws <= high)] - low, minlength=kept.size)
    tails = [np.sum(draws < low), np.sum(draws > high)]
    tail_expected = [noise.cdf(np.array([low - 1]))[0], 1 - noise.cdf(np.array([high]))[0]]
    observed_all = np.concatenate([observed, tails])
    expected_all = np.concatenate([noise.pmf(np.arange(low, high + 1)), tail_expected])
    expected_all = expected_all * draws.size / expected_all.sum()
    return float(stats.chisquare(observed_all, expected_all).pvalue)


@pytest.mark.parametrize(("epsilon", "units"), [(1.0, 100), (0.5, 7), (2.0, 3), (1.0, 2)])
def test_the_sampler_draws_its_pmf(epsilon: float, units: int) -> None:
    noise = IntegerNoise(epsilon, units, "discrete_staircase")
    draws = noise.sample(200_000)
    assert draws.dtype == np.int64
    assert _chi_square_p(draws, noise) > ALPHA


def test_the_sampler_test_tells_the_staircase_from_the_laplace() -> None:
    """Its power: Laplace draws at the same ε and Δ fail it."""
    laplace = discrete.sample(200_000, 1.0, 100)
    assert _chi_square_p(laplace, IntegerNoise(1.0, 100, "discrete_staircase")) < ALPHA


# Neighbouring datasets through a real DuckDB core: one firm's fee at the lower bound (0)
# or the upper one; its neighbours move it to the other bound, add one at the upper bound
# or remove the one there. Each moves the exact sum by Δ = 100,000 exactly, the largest
# move the sensitivity allows, so each release bucket's frequency must stay within e^ε.
SCHEMA = {
    "dataset": "firms",
    "title": "staircase neighbours",
    "privacy_unit": "firm",
    "columns": [
        {"name": "firm", "type": "string", "level": "L3", "role": "identifier"},
        {"name": "zone", "type": "string", "level": "L1", "role": "dimension",
         "categories": ["a"]},
        {"name": "fee", "type": "double", "level": "L3", "role": "measure",
         "bounds": [0, 100_000]},
    ],
}  # fmt: skip
SUM = "SELECT zone, SUM(fee) AS v FROM firms GROUP BY zone"
EPSILON = 1.0
DRAWS = 50_000


def _neighbours() -> dict[str, pd.DataFrame]:
    fees = [0.0, 100_000.0, *[1_000.0 * (i % 37) for i in range(60)]]
    base = pd.DataFrame({"firm": [f"f{i}" for i in range(len(fees))], "zone": "a", "fee": fees})
    return {
        "base": base,
        "changed": base.assign(fee=base.fee.where(base.firm != "f0", 100_000.0)),
        "added": pd.concat(
            [base, pd.DataFrame({"firm": ["new"], "zone": ["a"], "fee": [100_000.0]})]
        ),
        "removed": base[base.firm != "f1"],
    }


def _decide(epsilon: float = EPSILON):
    scope = LicenseScope(("firms",), Level.L3)
    return check_query(SUM, {"firms": parse_schema(SCHEMA)}, scope, epsilon)


def _core(frame: pd.DataFrame) -> pd.DataFrame:
    connection = duckdb.connect()
    connection.register("firms", frame)
    return connection.execute(_decide().sql).df()


def _repeat(core: pd.DataFrame, times: int) -> pd.DataFrame:
    return core.loc[np.repeat(core.index, times)].reset_index(drop=True)


def _buckets(core: pd.DataFrame, spec: NoiseSpec, origin: float) -> pd.Series:
    """How many of DRAWS releases of one exact core fall in each bucket of width Δ/10
    around `origin` (the core row repeated: each row is noised on its own)."""
    released = apply_noise(_repeat(core, DRAWS), [spec])["v"]
    width = 100_000 / 10
    bucket = np.clip(np.floor((released.to_numpy() - origin) / width), -80, 80)
    return pd.Series(bucket).value_counts()


def _worst_excess(p: pd.Series, q: pd.Series, epsilon: float) -> float:
    """max over buckets of how far p̂ − e^ε·q̂ lies above 0, both ways, in standard
    deviations taken at the bound itself (p = e^ε·q, q estimated from both counts).

    A deviation taken from the estimates instead runs high wherever q̂ is low by chance;
    the staircase sits exactly at the bound in every tail bucket, so that version reached
    5.1 in one CI run (its 99th percentile was 4.4 over 300 comparisons; this one's is
    3.5). Buckets where the smaller side expects fewer than 30 draws are left out: the
    normal approximation is poor there and they carry no power."""
    p, q = p.align(q, fill_value=0)
    scale = math.exp(epsilon)
    worst = -math.inf
    for a, b in ((p, q), (q, p)):
        smaller = (a + b) / (DRAWS * (1 + scale))
        spread = np.sqrt(
            (scale * smaller * (1 - scale * smaller) + scale**2 * smaller * (1 - smaller)) / DRAWS
        )
        excess = (a - scale * b) / DRAWS / spread
        worst = max(worst, float(excess[smaller * DRAWS >= 30].max()))
    return worst


@pytest.mark.slow
def test_neighbouring_datasets_release_each_bucket_within_e_to_the_epsilon() -> None:
    [spec] = _decide().noise
    assert spec.mechanism == "discrete_staircase_fixed_point"
    cores = {name: _core(frame) for name, frame in _neighbours().items()}
    exact = {name: int(core.loc[0, "__fx__v"]) * spec.fine for name, core in cores.items()}
    origin = exact["base"]
    assert {abs(exact[n] - origin) for n in ("changed", "added", "removed")} == {100_000.0}
    base = _buckets(cores["base"], spec, origin)
    for name in ("changed", "added", "removed"):
        excess = _worst_excess(_buckets(cores[name], spec, origin), base, EPSILON)
        assert excess < 5, (name, excess)
    # the test has teeth: noise for ε = 1.5 (less of it) breaks the bound for ε = 1
    [weak] = _decide(1.5).noise
    loud = _worst_excess(
        _buckets(cores["changed"], weak, origin), _buckets(cores["base"], weak, origin), EPSILON
    )
    assert loud > 5


def test_released_sums_are_whole_multiples_of_g() -> None:
    """The precision point: the staircase adds integers to an integer number of units of
    g, so every released sum is k·g exactly (as the decimal it prints as)."""
    [spec] = _decide().noise
    core = _core(_neighbours()["base"])
    released = apply_noise(_repeat(core, 5_000), [spec])["v"]
    g = discrete.exact(spec.granularity)
    assert all((discrete.exact(v) / g).denominator == 1 for v in released)
    assert released.nunique() > 100  # and they do move
