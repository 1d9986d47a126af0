"""Kinds of output cell: what a result column holds, and so how the output gate checks it.

The policy engine says the kind of each column it emits and the gate acts on it, so
the vocabulary sits here, below both (imports run one way). The values are the
strings stored in job records before this enum existed, so stored JSON still reads.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["AGGREGATES", "CellKind"]


class CellKind(StrEnum):
    """One output column's kind, as the policy engine or the runtime's table helper says."""

    GROUP_KEY = "group_key"  # a GROUP BY key: a label, kept unless the value scan hits it
    COUNT = "count"
    SUM = "sum"
    AVG = "avg"
    VALUE = "value"  # anything else beside the aggregates: MIN/MAX, an L1 column, a constant

    @property
    def is_aggregate(self) -> bool:
        """Whether the disclosure rules judge this cell (the rest are labels or values)."""
        return self in AGGREGATES


#: the kinds whose cells rest on privacy units' contributions and are checked cell by cell
AGGREGATES = frozenset({CellKind.COUNT, CellKind.SUM, CellKind.AVG})
