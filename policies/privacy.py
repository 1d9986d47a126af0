"""Differential-privacy noise for aggregates over L3 data, with diffprivlib's mechanisms.

Sensitivities come from schema bounds and each dataset's contribution limit
(both enforced in the rewritten SQL). Groups are disjoint, so one ε covers a
column across all its cells (parallel composition); columns split the query's ε.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.cells import AGGREGATES, CellKind
from core.levels import Level
from policies.rewrite import OutputCell


@dataclass(frozen=True)
class NoiseSpec:
    column: str
    kind: CellKind  # an aggregate: count, sum or avg
    mechanism: str  # geometric | laplace | laplace+geometric
    sensitivity: float
    epsilon: float
    count_sensitivity: float = 1.0  # averages: the count's sensitivity (rows per unit)

    def __post_init__(self) -> None:
        # read back from a job's stored policy, the kind is plain text again
        object.__setattr__(self, "kind", CellKind(self.kind))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    mechanism = {
        CellKind.COUNT: "geometric",
        CellKind.SUM: "laplace",
        CellKind.AVG: "laplace+geometric",
    }
    return [
        NoiseSpec(c.column, c.kind, mechanism[c.kind], c.sensitivity, share, c.count_sensitivity)
        for c in noisy
    ]


def _geometric(values: pd.Series, epsilon: float, sensitivity: float) -> pd.Series:
    # diffprivlib imports scikit-learn (about a second): load it only when noise is due
    from diffprivlib.mechanisms import Geometric

    mech = Geometric(epsilon=epsilon, sensitivity=max(1, int(round(sensitivity))))
    return values.map(lambda v: v if pd.isna(v) else max(0, mech.randomise(int(v))))


def _laplace(values: pd.Series, epsilon: float, sensitivity: float) -> pd.Series:
    from diffprivlib.mechanisms import Laplace

    mech = Laplace(epsilon=epsilon, sensitivity=sensitivity)
    return values.map(lambda v: v if pd.isna(v) else mech.randomise(float(v)))


def apply_noise(frame: pd.DataFrame, specs: list[NoiseSpec]) -> pd.DataFrame:
    """Noisy copy of a result table. Averages are a noisy sum over a noisy count."""
    noisy = frame.copy()
    for spec in specs:
        if spec.column not in noisy:
            raise KeyError(f"result has no column {spec.column!r} to add noise to")
        if spec.kind == CellKind.COUNT:
            noisy[spec.column] = _geometric(noisy[spec.column], spec.epsilon, spec.sensitivity)
        elif spec.kind == CellKind.SUM:
            noisy[spec.column] = _laplace(noisy[spec.column], spec.epsilon, spec.sensitivity)
        else:
            total = _laplace(noisy[f"__sum__{spec.column}"], spec.epsilon / 2, spec.sensitivity)
            count = _geometric(
                noisy[f"__cnt__{spec.column}"], spec.epsilon / 2, spec.count_sensitivity
            )
            noisy[spec.column] = total / np.maximum(count.astype("float64"), 1.0)
    return noisy
