"""The differencing check (差分攻击检查) by population: two cells whose sets of units
differ by a few units together reveal those few, whatever their keys say.

Releasing `SUM(employees)` and then the same total with a filter that leaves out one
enterprise publishes two totals whose difference is that enterprise's value. Each
passes the threshold rule alone; their difference does not. Comparing group key text
(as this check once did) is defeated by renaming a key (`CONCAT(district, '#')`), by
putting the filtered total under another key, or by a second company asking the
second half; comparing the populations is not.

How it is detected. The private core emits, per output group, its population as a
sketch of fixed size (policies/rewrite.py; gate/sketches.py reads it): `__lowest`, the
group's 64 lowest unit digests, and `__sketch`, an invertible Bloom lookup table of
its digests (empty for a group of at most 64 units, which `__lowest` lists whole).
A population must count the group's own `__n` units: a sketch of another population
(a core that joined a group to the wrong sketch) does not read.
The gate blocks the output if any released row A has, among the cells released or
awaiting review by any operator of the domain (gate/populations.py keeps them), one B
for which the sketches cannot rule out

    0 < |A Δ B| < t,    t = max(threshold of A, threshold of B)

(the symmetric difference: units in one and not the other). Δ = 0 (the same query
again) and Δ ≥ t (a broad change) pass; a difference the sketches neither decode nor
prove large is withheld (gate/sketches.py says why that never passes a close pair).
A job's tables are compared with each other too; the rows of one table are not (see
below).

Why it is fast. |A Δ B| ≥ | |A| − |B| |, so only cells of a size within t are
candidates. And if |A Δ B| < t, let x be the lowest digest common to A and B: every
unit of A below x is in A \\ B, every unit of B below x in B \\ A, so x sits at
positions i in A and j in B (counting from 0) with i ≤ |A \\ B| and j ≤ |B \\ A|;
as |A \\ B| − |B \\ A| = |A| − |B| = d, the difference is at least i + j, 2j + d and
2i − d, all below t. So the store indexes each cell under its t lowest digests with
their positions, a new cell looks up its own t lowest, and only cells found there
whose size and positions allow a difference below t are compared by their sketches.
These are the prefix and positional filters of set-similarity joins; they never miss
a pair (tests/gate/test_populations.py checks them against brute force). A sketch
keeps 64 lowest digests, so a threshold above 64 finds its pairs by size alone.

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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gate.companions import N_COLUMN
from gate.findings import MAX_LISTED_ROWS, Finding, make_finding
from gate.sketches import Sketch, closeness, sketch_from_cells
from gate.stored_sketches import ProbeColumns, StoredSketches

__all__ = [
    "POPULATION_COLUMNS",
    "Candidate",
    "Close",
    "Probe",
    "Stored",
    "TablePopulations",
    "close_pairs",
    "differencing_findings",
    "table_populations",
    "within_job",
]

LOWEST_COLUMN = "__lowest"
SKETCH_COLUMN = "__sketch"
POPULATION_COLUMNS = (LOWEST_COLUMN, SKETCH_COLUMN)


@dataclass
class TablePopulations:
    """The populations of a gated table's released rows, as sketches."""

    file: str
    rows: list[int]
    sketches: list[Sketch]


@dataclass
class Probe:
    """A cell to check: where it is, its population's sketch, its threshold."""

    file: str
    row: int
    sketch: Sketch
    threshold: int

    @property
    def units(self) -> int:
        return self.sketch.units


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


# A stored cell as the comparison reads it: (size, threshold, sketch; None when its
# bytes do not read as one, and then nothing can be proven about the pair).
Candidate = tuple[int, int, Sketch | None]


@dataclass(frozen=True)
class Close:
    """A pair of cells whose populations may differ by 0 < difference < threshold:
    `difference` when the sketches decoded it, else None with `at_least` its bound."""

    probe: Probe
    other: Stored | Probe
    difference: int | None
    threshold: int
    at_least: int


def _sketch(units: object, lowest: object, cells: object) -> Sketch | None:
    """One row's sketch from its `__n`, `__lowest` and `__sketch` (lists, or the arrays
    pandas reads from Parquet); None if they are not one of `__n` units. A group of at
    most 64 units comes as its `__lowest` alone, which then lists all of them."""
    listed = list | tuple | np.ndarray
    if not isinstance(lowest, listed) or not isinstance(cells, listed):
        return None
    if isinstance(units, bool) or not isinstance(units, int | np.integer):
        return None
    return sketch_from_cells(int(units), lowest, list(cells))


def table_populations(
    frame: pd.DataFrame, file: str, released: np.ndarray
) -> TablePopulations | None:
    """The released rows' populations, or None when a population column is absent or a
    row's does not read as a sketch of its `__n` units (then the table cannot be
    compared, and the gate withholds it)."""
    if any(column not in frame.columns for column in (N_COLUMN, *POPULATION_COLUMNS)):
        return None
    rows = np.flatnonzero(np.asarray(released, dtype=bool)).tolist()
    sizes = frame[N_COLUMN].to_numpy(dtype=object)
    lowest = frame[LOWEST_COLUMN].to_numpy(dtype=object)
    cells = frame[SKETCH_COLUMN].to_numpy(dtype=object)
    sketches = [_sketch(sizes[row], lowest[row], cells[row]) for row in rows]
    if any(s is None for s in sketches):
        return None
    return TablePopulations(file, rows, [s for s in sketches if s is not None])


def _close(probe: Probe, other: Candidate) -> tuple[int | None, int, int] | None:
    """(difference or None, threshold, at least) if the pair may be close, else None."""
    other_units, other_threshold, other_sketch = other
    pair_threshold = max(probe.threshold, other_threshold)
    gap = abs(probe.units - other_units)
    if gap >= pair_threshold:
        return None
    if other_sketch is None:  # unreadable: it cannot vouch for the pair, so withhold
        return None, pair_threshold, max(gap, 1)
    found = closeness(probe.sketch, other_sketch, pair_threshold)
    if found is None:
        return None
    return found.difference, pair_threshold, max(found.at_least, 1)


def close_pairs(
    probes: Sequence[Probe], columns: ProbeColumns, stored: StoredSketches, pairs: np.ndarray
) -> list[tuple[int, int, int | None, int, int]]:
    """(probe index, cell id, difference, threshold, at least) for the candidate pairs,
    rows of (probe index, cell id), that may be close; `columns` are the probes' own
    (`ProbeColumns.of`), and cells the batch does not hold are skipped. Pairs of whole
    populations are compared exactly by the batch, larger ones screened, and the rest
    compared one by one (gate/stored_sketches.py)."""
    rows = stored.rows_of(pairs[:, 1])
    held = rows >= 0
    index, rows = pairs[held, 0], rows[held]
    thresholds = np.maximum(columns.thresholds[index], stored.thresholds[rows])
    near = np.abs(columns.units[index] - stored.units[rows]) < thresholds
    index, rows, thresholds = index[near], rows[near], thresholds[near]

    whole = columns.whole[index] & stored.whole[rows]
    differences = stored.whole_differences(columns, index[whole], rows[whole])
    close = (differences > 0) & (differences < thresholds[whole])
    found: list[tuple[int, int, int | None, int, int]] = [
        (probe, cell_id, difference, threshold, difference)
        for probe, cell_id, difference, threshold in zip(
            index[whole][close].tolist(),
            stored.ids[rows[whole][close]].tolist(),
            differences[close].tolist(),
            thresholds[whole][close].tolist(),
            strict=True,
        )
    ]
    large = ~columns.whole[index] & ~stored.whole[rows]  # the screen never settles unreadable
    settled = whole.copy()
    settled[large] = stored.settled(columns, index[large], rows[large], thresholds[large])
    for probe, row in zip(index[~settled].tolist(), rows[~settled].tolist(), strict=True):
        other = (int(stored.units[row]), int(stored.thresholds[row]), stored.sketch(row))
        pair = _close(probes[probe], other)
        if pair is not None:
            found.append((probe, int(stored.ids[row]), *pair))
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
            close = _close(a, (b.units, b.threshold, b.sketch))
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
        members.sort(key=lambda c: (c.probe.row, c.at_least))
        rows = sorted({c.probe.row for c in members})
        other = members[0].other
        known = [c.difference for c in members if c.difference is not None]
        # undecoded: what the sketches prove, a range below the threshold
        fewest = min(c.at_least for c in members)
        widest = max(c.threshold for c in members)
        figures = {
            "earlier": label,
            "operator": other.operator_id if isinstance(other, Stored) else None,
            "difference": min(known) if known else f"{fewest}–{widest - 1}",
            "threshold": widest,
            "groups": len(rows),
            "rows": rows[:MAX_LISTED_ROWS],
            "earlier_rows": sorted({c.other.row for c in members})[:MAX_LISTED_ROWS],
        }
        finding = make_finding("differencing", rows[0], None, figures)
        finding.file = file
        findings.append(finding)
    return findings
