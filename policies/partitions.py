"""Which groups a differentially private release may show: keys by partition selection.

In the DP regime (an output that depends on an L3 value) no decision may rest on an
exact count. A group keyed only by declared public code lists is shown for every
category (a key set known in advance, present in the data or not). Any other key
is shown only if a noisy count of its distinct units passes a threshold set from
(ε, δ), as Google's DP library and SmartNoise do:

    b = k / ε,    τ = 1 + b · ln(k / (2δ))

where k bounds how many groups one unit can fall in (each unit keeps at most
`contribution_limit` rows after the bounded scan, so k is that limit, multiplied
across joined datasets). A group of one unit then appears with probability at most
δ/k, and at most δ summed over the k groups a unit can create.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from core.cells import CellKind
from policies.rewrite import OutputCell

DEFAULT_DELTA = 1e-6
# Beyond this many public-category combinations, keys go through partition selection.
MAX_KEY_SET = 100_000


@dataclass(frozen=True)
class PartitionSpec:
    """How keys are chosen for one DP release; recorded in the decision and the manifest."""

    epsilon: float
    delta: float
    max_groups: int
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def scale(self) -> float:
        return self.max_groups / self.epsilon


def selection_threshold(epsilon: float, delta: float, max_groups: int) -> float:
    return 1.0 + (max_groups / epsilon) * math.log(max_groups / (2.0 * delta))


def needs_selection(cells: list[OutputCell]) -> bool:
    """Whether some group key is not covered by a small enough public key set."""
    keys = [c for c in cells if c.kind is CellKind.GROUP_KEY]
    if not keys:
        return False
    if any(c.categories is None for c in keys):
        return True
    combinations = math.prod(len(c.categories or ()) for c in keys)
    return combinations > MAX_KEY_SET


def plan_partitions(epsilon: float, max_groups: int, delta: float = DEFAULT_DELTA) -> PartitionSpec:
    threshold = selection_threshold(epsilon, delta, max_groups)
    return PartitionSpec(epsilon, delta, max_groups, threshold)
