"""The DP regime of the gate: a release that reads L3 data is (ε, δ)-DP as a whole.

No decision here rests on an exact figure. Which groups appear is decided from a
noisy count of distinct units (partition selection, policies/partitions.py) or by
a public key set fixed in advance; every aggregate is noised (policies/privacy.py);
there is no threshold, dominance or secondary suppression and no differencing,
because those would decide from exact counts and contributions, and DP composition
(the ε ledger) is what protects across releases. The value scan stays as a guard.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.cells import AGGREGATES, CellKind
from gate.companions import N_COLUMN
from gate.findings import Finding
from gate.tables import CellSpec
from gate.value_scan import Combination, scan_combinations, scan_identifiers
from policies.partitions import PartitionSpec
from policies.privacy import NoiseSpec, apply_noise


@dataclass
class DpRelease:
    table: pd.DataFrame
    findings: list[Finding] = field(default_factory=list)
    blocked: bool = False
    keys_considered: int = 0

    @property
    def cells_released(self) -> int:
        return int(self.table.size)


def secure_rng() -> np.random.Generator:
    """A generator seeded from the OS, so noise cannot be replayed from a known seed."""
    return np.random.default_rng(secrets.randbits(128))


def select_partitions(
    units: np.ndarray, spec: PartitionSpec, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Which groups appear: noisy distinct-unit count at or above the threshold."""
    rng = rng or secure_rng()
    noisy = units + rng.laplace(0.0, spec.scale, size=len(units))
    return noisy >= spec.threshold


def complete_key_set(frame: pd.DataFrame, cells: Sequence[CellSpec]) -> pd.DataFrame:
    """Exactly one row per combination of the keys' public categories: rows the data
    lacks are added with zero aggregates, rows outside the code lists are dropped, so
    which rows appear says nothing about the data."""
    keys = [c for c in cells if c.kind is CellKind.GROUP_KEY]
    if not keys:
        return frame
    grid = pd.DataFrame(
        list(itertools.product(*[c.categories or () for c in keys])),
        columns=[c.column for c in keys],
    )
    texts = frame[[c.column for c in keys]].astype("string")
    present = frame.assign(**{c.column: texts[c.column] for c in keys})
    merged = grid.merge(present, on=[c.column for c in keys], how="left")
    for column in (c for c in merged.columns if c not in grid.columns):
        # fixed-point totals travel as text (policies/rewrite.py); the rest are numbers
        text = pd.api.types.is_string_dtype(merged[column]) or merged[column].dtype == object
        merged[column] = merged[column].fillna("0" if text else 0)
    return merged


def release_dp(
    frame: pd.DataFrame,
    cells: Sequence[CellSpec],
    noise: list[NoiseSpec],
    partition: PartitionSpec | None,
    is_identifier: Callable[[object], bool] | None = None,
    combinations: Sequence[Combination] = (),
) -> DpRelease:
    """The released table of a DP-regime core: keys chosen privately, values noised."""
    if partition is None:
        rows = complete_key_set(frame, cells)
    else:
        units = rows_units(frame)
        rows = frame[select_partitions(units, partition)]
    considered = len(rows)
    noisy = apply_noise(rows.reset_index(drop=True), noise) if noise else rows
    kept = [c.column for c in cells if c.column in noisy.columns]
    table = noisy[kept]
    findings: list[Finding] = []
    scanned = [c.column for c in cells if c.kind not in AGGREGATES and c.column in table]
    if is_identifier is not None:
        findings += scan_identifiers(table, scanned, is_identifier)[0]
    if combinations:
        findings += scan_combinations(table, scanned, list(combinations))[0]
    return DpRelease(table, findings, bool(findings), considered)


def rows_units(frame: pd.DataFrame) -> np.ndarray:
    """The exact distinct-unit count per row (never released; only noised for selection)."""
    if N_COLUMN not in frame.columns:
        raise ValueError(f"a DP release needs the {N_COLUMN} companion")
    return frame[N_COLUMN].to_numpy(dtype=np.float64, na_value=0.0)
