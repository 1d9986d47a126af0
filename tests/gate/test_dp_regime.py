"""The DP regime, tested as DP is defined: neighbouring datasets, release frequencies.

For two datasets that differ in one unit (added, removed or changed), each release
decision (which keys appear) must happen with frequencies p and p' such that
p' ≤ e^ε · p + δ, both ways. The decisions are made many times on the same exact
core tables, as the gate would make them for two runs of a job.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.cells import CellKind
from gate.dp import complete_key_set, release_dp, select_partitions
from gate.tables import CellSpec
from policies.partitions import plan_partitions
from policies.privacy import NoiseSpec

RUNS = 4000
EPSILON = 1.0


def frequency(units: np.ndarray, spec, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shown = np.zeros(len(units))
    for _ in range(RUNS):
        shown += select_partitions(units, spec, rng)
    return shown / RUNS


def within_dp_bound(p: float, q: float, epsilon: float, delta: float) -> bool:
    """p ≤ e^ε q + δ, with room for sampling error (4 standard errors of RUNS draws)."""
    slack = 4 * math.sqrt(max(p * (1 - p), 1e-4) / RUNS)
    return p <= math.exp(epsilon) * q + delta + slack


@pytest.mark.parametrize("n", [1, 10, 25, 40, 60])
def test_adding_or_removing_one_unit_moves_key_selection_within_the_bound(n: int) -> None:
    spec = plan_partitions(EPSILON, max_groups=1)
    with_unit = frequency(np.array([n + 1.0]), spec, seed=n)[0]
    without = frequency(np.array([float(n)]), spec, seed=1000 + n)[0]
    assert within_dp_bound(with_unit, without, EPSILON, spec.delta)
    assert within_dp_bound(without, with_unit, EPSILON, spec.delta)


def test_a_group_of_one_unit_almost_never_appears() -> None:
    spec = plan_partitions(EPSILON, max_groups=1)
    assert frequency(np.array([1.0]), spec, seed=7)[0] <= spec.delta + 4 / RUNS


def test_a_unit_in_several_groups_is_bounded_by_max_groups() -> None:
    """A unit whose rows fall in k groups changes k counts: the scale grows with k."""
    spec = plan_partitions(EPSILON, max_groups=3)
    base = np.array([30.0, 30.0, 30.0])
    with_unit = frequency(base + 1, spec, seed=11)
    without = frequency(base, spec, seed=12)
    # the joint event (all three shown) obeys the bound for the whole unit's ε
    assert within_dp_bound(with_unit.prod(), without.prod(), EPSILON, spec.delta)


def dominated_core(fee_of_target: float) -> pd.DataFrame:
    """Ten enterprises in one street; the target's fee is 50 or 50,000 (issue 13)."""
    fees = [fee_of_target] + [50.0] * 9
    return pd.DataFrame(
        {
            "street": ["月湖街道"],
            "fee": [sum(fees)],
            "__n": [10],
            "__top1__fee": [max(fees)],
            "__top2__fee": [sorted(fees)[-2]],
            "__abs__fee": [sum(fees)],
            "__sum__fee": [sum(fees)],
            "__cnt__fee": [10],
        }
    )


def test_a_dominant_value_no_longer_decides_whether_a_cell_appears() -> None:
    """Changing one person's fee from 50 to 50,000 flipped a cell from released to
    suppressed 200 times out of 200; in the DP regime the key decision ignores values."""
    cells = [CellSpec("street", CellKind.GROUP_KEY), CellSpec("fee", CellKind.SUM)]
    noise = [NoiseSpec("fee", CellKind.SUM, "laplace", 100_000.0, 0.5)]
    spec = plan_partitions(0.5, max_groups=1)
    shown = {}
    for fee in (50.0, 50_000.0):
        core = dominated_core(fee)
        shown[fee] = sum(len(release_dp(core, cells, noise, spec).table) for _ in range(300))
    # 10 units are below τ ≈ 27.2 either way: the noisy count clears it with probability
    # P(Laplace(2) ≥ 17.2) ≈ 9e-5 per run whatever the fee, so a run or two of 300 may
    # show it by chance (at most 3: chance 1e-8); 300 of 300 suppressed-or-shown by the
    # fee, as before issue 13, cannot pass
    assert shown[50.0] <= 3 and shown[50_000.0] <= 3
    core = dominated_core(50_000.0).assign(__n=[200], __cnt__fee=[200])
    assert len(release_dp(core, cells, noise, spec).table) == 1  # and a big group shows


def test_public_key_sets_show_every_category_whatever_the_data() -> None:
    cells = [
        CellSpec("district", CellKind.GROUP_KEY, ("海曙区", "江北区", "镇海区")),
        CellSpec("n", CellKind.COUNT),
    ]
    present = pd.DataFrame({"district": ["江北区", "T"], "n": [3, 1], "__n": [3, 1]})
    rows = complete_key_set(present, cells)
    assert sorted(rows["district"]) == ["江北区", "海曙区", "镇海区"]
    assert rows.set_index("district").loc["海曙区", "n"] == 0
    noise = [NoiseSpec("n", CellKind.COUNT, "geometric", 1.0, 1.0)]
    released = release_dp(present, cells, noise, None).table
    assert sorted(released["district"]) == ["江北区", "海曙区", "镇海区"]
    assert "__n" not in released.columns
