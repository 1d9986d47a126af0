"""Noisy sums and means from an exact fixed-point total computed in the private core.

The core rounds each clamped value to an integer number of fine units and sums the
integers (`__fx__<column>`), so one unit moves the total by at most the integer bound
and the noise's sensitivity is exactly Δ/g, with no unit of slack. Run in real DuckDB.
"""

from __future__ import annotations

import math
from fractions import Fraction

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot
from sqlglot import exp

from catalog.schema import parse_schema
from core.levels import Level
from policies import discrete
from policies.core_sql import exact_sum, for_engine
from policies.engine import LicenseScope, check_query
from policies.noise import IntegerNoise, mean_half_width
from policies.privacy import NoiseSpec, apply_noise

SCHEMA = {
    "dataset": "firms",
    "title": "fixed point",
    "privacy_unit": "firm",
    "columns": [
        {"name": "firm", "type": "string", "level": "L3", "role": "identifier"},
        {"name": "zone", "type": "string", "level": "L1", "role": "dimension",
         "categories": ["a", "b"]},
        {"name": "fee", "type": "double", "level": "L3", "role": "measure",
         "bounds": [-20.5, 100_000]},
    ],
}  # fmt: skip
SCOPE = LicenseScope(("firms",), Level.L3)


def _decide(sql: str, epsilon: float = 1.0):
    return check_query(sql, {"firms": parse_schema(SCHEMA)}, SCOPE, epsilon)


def _core(sql: str, frame: pd.DataFrame) -> pd.DataFrame:
    connection = duckdb.connect()
    connection.register("firms", frame)
    return connection.execute(_decide(sql).sql).df().set_index("zone").sort_index()


def _firms(fees: list[float | None], zones: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "firm": [f"f{i}" for i in range(len(fees))],
            "zone": zones or ["a"] * len(fees),
            "fee": fees,
        }
    )


SUM = "SELECT zone, SUM(fee) AS v FROM firms GROUP BY zone"
AVG = "SELECT zone, AVG(fee) AS v FROM firms GROUP BY zone"


def test_the_core_sums_exact_integers_of_clamped_rounded_values() -> None:
    fees = [0.1, 0.2, 12_345.678901234, 1e9, -1e9, None, 99_999.99995]
    core = _core(SUM, _firms(fees))
    spec = _decide(SUM).noise[0]
    fine = discrete.exact(spec.fine)
    expected = sum(
        discrete.to_units_exact(min(max(discrete.exact(f), Fraction("-20.5")), 100_000) / fine, 1)
        for f in fees
        if f is not None
    )
    assert int(core.loc["a", "__fx__v"]) == expected
    # the NULL fee is neither a value nor clamped up to the lower bound
    clamped = 0.1 + 0.2 + 12_345.678901234 + 100_000 - 20.5 + 99_999.99995
    assert core.loc["a", "v"] == pytest.approx(clamped)


def test_the_exact_sum_stays_exact_past_64_bits_in_duckdb_and_in_spark_sql() -> None:
    """DuckDB sums BIGINT into 128 bits itself; Spark's SQL must widen the argument,
    in the rewritten core too, or its sum would wrap at 2^63."""
    values = [2**62, 2**62, 2**62 - 1, 5]
    store = duckdb.connect()
    store.execute("CREATE TABLE t (k BIGINT)")
    store.executemany("INSERT INTO t VALUES (?)", [[v] for v in values])
    tree = exp.select(exact_sum(exp.column("k")).as_("total")).from_("t")
    spark = for_engine(tree, "spark").sql("spark")
    assert "CAST(k AS DECIMAL(38, 0))" in spark
    back = sqlglot.transpile(spark, read="spark", write="duckdb")[0]
    for sql in (tree.sql("duckdb"), back):
        [(total,)] = store.execute(sql).fetchall()
        assert int(total) == sum(values) > 2**63, sql
    core = _decide(SUM).sql_for("spark")
    assert core is not None and core.count("AS DECIMAL(38, 0))") == 2, core


def test_one_unit_moves_the_total_by_at_most_the_integer_sensitivity() -> None:
    """Neighbouring datasets: add one firm at either bound; the rounded total the noise is
    added to moves by at most value_units, so the release is ε-DP with no slack."""
    base = [0.1 + 0.2, 7.77, 55_555.5555, 3.0] * 50
    for query in (SUM, AVG):
        spec = _decide(query).noise[0]
        if spec.kind == "sum":
            assert spec.value_units == math.ceil(100_000 / spec.granularity)  # exactly Δ/g
        for extreme in (100_000.0, -20.5, 1e12, -1e12):
            cores = [_core(query, _firms(base)), _core(query, _firms([*base, extreme]))]
            units = [_exact_units(c.reset_index(), spec) for c in cores]
            assert abs(units[1] - units[0]) <= spec.value_units


def _exact_units(core: pd.DataFrame, spec: NoiseSpec) -> int:
    """What apply_noise adds noise to: the (centred) exact total in units of g."""
    total = int(core.loc[0, f"__fx__{spec.column}"])
    rows = int(core.loc[0, f"__cnt__{spec.column}"])
    value = (total - rows * spec.fine_centre) * discrete.exact(spec.fine)
    return discrete.to_units_exact(value, spec.granularity)


def test_sum_noise_is_as_accurate_as_float_laplace_at_the_same_epsilon() -> None:
    """No slack left: RMSE over √2·Δ/ε is 1.00 within sampling error (it was 1.01)."""
    spec = _decide(SUM, epsilon=0.5).noise[0]
    assert spec.value_units == 100_000 / spec.granularity
    draws = 20_000
    frame = pd.DataFrame({"v": [0.0] * draws, "__fx__v": [str(5 * 10**12)] * draws})
    released = apply_noise(frame, [spec])["v"].to_numpy()
    true = 5 * 10**12 * spec.fine
    ratio = float(np.sqrt(((released - true) ** 2).mean())) / (math.sqrt(2) * 100_000 / 0.5)
    assert 0.96 < ratio < 1.04


def test_a_mean_is_centred_kept_within_bounds_and_its_ci95_covers() -> None:
    spec = _decide(AVG).noise[0]
    assert spec.sensitivity == pytest.approx((100_000 + 20.5) / 2)  # half the range
    draws, rows = 4_000, 400
    for mean in (100_000.0, 40_000.0, -20.5):
        total = round(mean * rows / spec.fine)
        frame = pd.DataFrame(
            {"v": [0.0] * draws, "__fx__v": [str(total)] * draws, "__cnt__v": [rows] * draws}
        )
        released = apply_noise(frame, [spec])["v"]
        assert released.between(-20.5, 100_000).all()
        covered = float(((released - mean).abs() <= spec.ci95 / rows).mean())
        assert covered >= 0.93, (mean, covered)


def test_a_group_without_values_is_noised_like_a_zero_total() -> None:
    """NULL vs a number would say whether a group had any value, beside the noise."""
    core = _core(SUM, _firms([None, None, 5.0], zones=["a", "a", "b"])).reset_index()
    assert core.loc[core.zone == "a", "__fx__v"].item() == "0"
    released = apply_noise(core, _decide(SUM).noise)
    assert released["v"].notna().all()


def test_the_even_split_of_a_means_epsilon_is_best_for_the_worst_mean() -> None:
    """A mean's error is (g·Zs − μ′·Zc)/n; at the widest centred mean |μ′| = R (where its
    stated interval is set), no other split of ε between sum and count does better."""
    spec = _decide(AVG).noise[0]
    radius, epsilon = spec.sensitivity, spec.epsilon  # R·m, and the mean's whole ε
    g = spec.granularity

    def worst_half_width(share: float) -> float:
        units = math.ceil(discrete.exact(radius) / discrete.exact(g))
        total = IntegerNoise(epsilon * share, units)
        return mean_half_width(g, total, radius, IntegerNoise(epsilon * (1 - share), 1))

    even = worst_half_width(0.5)
    assert all(worst_half_width(s) > even for s in (0.3, 0.4, 0.45, 0.55, 0.6, 0.7))
