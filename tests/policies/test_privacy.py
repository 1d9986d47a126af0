"""Differential-privacy noise: the right mechanism, at the right scale, on the right columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.levels import Level
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


def test_laplace_scale_is_sensitivity_over_epsilon() -> None:
    noisy = apply_noise(_frame(1_000.0), [NoiseSpec("s", "sum", "laplace", 100.0, 0.5)])
    deviation = (noisy["s"] - 1_000.0).abs().mean()  # E|Laplace(b)| = b = 100 / 0.5
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
