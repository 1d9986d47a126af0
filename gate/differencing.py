"""The differencing check (差分攻击检查) by population: two cells whose sets of units
differ by a few units together reveal those few, whatever their keys say.

Releasing `SUM(employees)` and then the same total with a filter that leaves out one
enterprise publishes two totals whose difference is that enterprise's value. Each
passes the threshold rule alone; their difference does not. Comparing group key text
(as this check once did) is defeated by renaming a key (`CONCAT(district, '#')`), by
putting the filtered total under another key, or by a second company asking the
second half; comparing the populations is not.

How it is detected. The private core emits, per output group, `__units`: its distinct
privacy units as 8-byte digests (policies/rewrite.py), BLOBs hashed from the unit or
the same values as BIGINTs ingest stored (catalog/unit_digests.py). The gate turns
each released row's digests into a bitmap of the domain's unit numbers
(gate/populations.py keeps the numbering and the store) and blocks the output if any
released row A has, among the cells released or awaiting review by any operator of
the domain, one B with

    0 < |A Δ B| < t,    t = max(threshold of A, threshold of B)

(the symmetric difference: units in one and not the other). Δ = 0 (the same query
again) and Δ ≥ t (a broad change) pass. A job's tables are compared with each other
too; the rows of one table are not (see below).

Why it is fast. |A Δ B| ≥ | |A| − |B| |, so only cells of a size within t are
candidates. And if |A Δ B| < t, let x be the lowest-numbered unit common to A and B:
every unit of A below x is in A \\ B, every unit of B below x in B \\ A, so x sits at
positions i in A and j in B (counting from 0) with i ≤ |A \\ B| and j ≤ |B \\ A|;
as |A \\ B| − |B \\ A| = |A| − |B| = d, the difference is at least i + j, 2j + d and
2i − d, all below t. So the store indexes each cell under its t lowest unit numbers
with their positions, a new cell looks up its own t lowest, and only cells found
there whose size and positions allow a difference below t are compared exactly
(pyroaring's symmetric_difference_cardinality). These are the prefix and positional filters of
set-similarity joins; they never miss a pair (tests/gate/test_populations.py checks
them against brute force).

What it does not catch:
  * differences of three or more outputs (T − P1 − P2 where each pair differs by t or
    more): that is a linear system over all releases, left to the reviewers;
  * rows of the same table against each other (a yearly panel's rows differ by the
    units that came and went; blocking them would block every time series);
  * outputs without populations: public (L1-only) queries, which the operator could
    compute anyway, so a filtered total beside a public count is not compared;
    notebook tables, whose units are tokens keyed per job and whose companions the
    notebook itself writes; outputs released before the store existed;
  * a difference of t units or more that is still disclosive (say one unit dominating
    the difference of two sums): the p-ratio and dominance rules see single cells only;
  * two jobs gated at the same moment do not see each other; the check at approval
    (released cells only) catches the second, unless both are approved at once;
  * populations that differ only in which of a unit's rows were counted (COUNT of a
    condition over the same units): the populations are equal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyroaring import BitMap64

from catalog.identifiers import sorted_distinct
from gate.findings import MAX_LISTED_ROWS, Finding, make_finding

__all__ = [
    "UNITS_COLUMN",
    "Candidate",
    "Close",
    "Probe",
    "Stored",
    "TablePopulations",
    "close_pairs",
    "differencing_findings",
    "lowest",
    "table_populations",
    "within_job",
]

UNITS_COLUMN = "__units"
DIGEST_BYTES = 8


@dataclass
class TablePopulations:
    """The populations of a gated table's released rows, as unit digests (int64)."""

    file: str
    rows: list[int]
    digests: list[np.ndarray]


@dataclass
class Probe:
    """A cell to check: where it is, its population as unit numbers, its threshold."""

    file: str
    row: int
    bitmap: BitMap64
    threshold: int
    units: int = field(init=False)  # the size, counted once: it is read for every pair

    def __post_init__(self) -> None:
        self.units = len(self.bitmap)


@dataclass
class Stored:
    """A stored cell close to a new one: whose it is and where, for the finding."""

    id: int
    job_id: int
    operator_id: int
    file: str
    row: int
    released: bool

    @property
    def label(self) -> str:
        status = "released" if self.released else "awaiting_review"
        name = "" if self.file == "result.csv" else f" {self.file}"
        return f"job {self.job_id} ({status}){name}"


# A stored cell as the comparison reads it: (size, threshold, bitmap of unit numbers).
Candidate = tuple[int, int, BitMap64]


@dataclass(frozen=True)
class Close:
    """A pair of cells whose populations differ by 0 < difference < threshold."""

    probe: Probe
    other: Stored | Probe
    difference: int
    threshold: int


def _digests(value: object) -> np.ndarray | None:
    """One row's `__units` as sorted unique int64 digests; None if it is neither a list
    of 8-byte values nor of 64-bit integers (the digests ingest stored, listed as they
    are). Null entries (a null unit, which `__n` does not count) are skipped; a list of
    integers never has one (the core leaves them out), and floats, which is what
    pandas makes of integers beside a null, are refused: they lose the low bits."""
    if isinstance(value, np.ndarray) and value.dtype.kind != "O":
        if value.dtype.kind not in "iu" or value.dtype.itemsize != DIGEST_BYTES:
            return None
        return sorted_distinct(value.astype(np.int64, copy=False))
    if value is None or isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        return None
    items = [bytes(v) for v in value if v is not None]  # type: ignore[union-attr]
    if any(len(v) != DIGEST_BYTES for v in items):
        return None
    joined = b"".join(items)
    return sorted_distinct(np.frombuffer(joined, dtype=">i8").astype(np.int64))


def table_populations(
    frame: pd.DataFrame, file: str, released: np.ndarray
) -> TablePopulations | None:
    """The released rows' populations, or None when `__units` is absent or unreadable
    (then the table cannot be compared, and the gate withholds it)."""
    if UNITS_COLUMN not in frame.columns:
        return None
    rows = np.flatnonzero(np.asarray(released, dtype=bool)).tolist()
    column = frame[UNITS_COLUMN].to_numpy(dtype=object)
    digests = [_digests(column[row]) for row in rows]
    if any(d is None for d in digests):
        return None
    return TablePopulations(file, rows, [d for d in digests if d is not None])


def lowest(bitmap: BitMap64, count: int) -> list[int]:
    """The `count` lowest unit numbers of a population (its prefix in the index)."""
    found: list[int] = []
    for unit in bitmap:
        if len(found) == count:
            break
        found.append(unit)
    return found


def _close(
    units: int, threshold: int, bitmap: BitMap64, other: Candidate
) -> tuple[int, int] | None:
    """(difference, threshold) if the two populations are close, else None."""
    other_units, other_threshold, other_bitmap = other
    pair_threshold = max(threshold, other_threshold)
    if abs(units - other_units) >= pair_threshold:
        return None
    difference = int(bitmap.symmetric_difference_cardinality(other_bitmap))
    return (difference, pair_threshold) if 0 < difference < pair_threshold else None


def close_pairs(
    probes: Sequence[Probe], candidates: Mapping[int, Candidate], pairs: set[tuple[int, int]]
) -> list[tuple[int, int, int, int]]:
    """(probe index, cell id, difference, threshold) for the candidate pairs (probe
    index, cell id) whose populations are close; cells not in `candidates` are skipped."""
    found = []
    for index, cell_id in pairs:  # any order: the findings sort what they list
        other = candidates.get(cell_id)
        probe = probes[index]
        close = _close(probe.units, probe.threshold, probe.bitmap, other) if other else None
        if close is not None:
            found.append((index, cell_id, *close))
    return found


def within_job(probes: Sequence[Probe]) -> list[Close]:
    """Close pairs between different tables of one job (sorted by size, so each probe
    meets only those within the largest threshold of its size)."""
    if len({p.file for p in probes}) < 2:
        return []
    order = sorted(range(len(probes)), key=lambda i: probes[i].units)
    widest = max(p.threshold for p in probes)
    found = []
    for position, i in enumerate(order):
        for j in order[position + 1 :]:
            if probes[j].units - probes[i].units >= widest:
                break
            if probes[i].file == probes[j].file:
                continue
            a, b = probes[i], probes[j]
            close = _close(a.units, a.threshold, a.bitmap, (b.units, b.threshold, b.bitmap))
            if close is not None:
                found.append(Close(a, b, *close))
    return found


def _label(other: Stored | Probe) -> str:
    return other.label if isinstance(other, Stored) else f"this job's {other.file}"


def differencing_findings(closes: Sequence[Close]) -> list[Finding]:
    """One finding per (table of this output, other output), naming the rows; figures
    are for reviewers only (operators see the output withheld: findings.operator_gate)."""
    groups: dict[tuple[str, str], list[Close]] = {}
    for close in closes:
        groups.setdefault((close.probe.file, _label(close.other)), []).append(close)
    findings = []
    for (file, label), members in sorted(groups.items()):
        members.sort(key=lambda c: (c.probe.row, c.difference))
        rows = sorted({c.probe.row for c in members})
        other = members[0].other
        figures = {
            "earlier": label,
            "operator": other.operator_id if isinstance(other, Stored) else None,
            "difference": min(c.difference for c in members),
            "threshold": max(c.threshold for c in members),
            "groups": len(rows),
            "rows": rows[:MAX_LISTED_ROWS],
            "earlier_rows": sorted({c.other.row for c in members})[:MAX_LISTED_ROWS],
        }
        finding = make_finding("differencing", rows[0], None, figures)
        finding.file = file
        findings.append(finding)
    return findings
