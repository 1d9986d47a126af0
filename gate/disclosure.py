"""Statistical disclosure control (统计披露控制) rules for one output cell, as pure functions.

The rules are ACRO's, so a table checked by ACRO and by Sluice gets the same cell
verdicts. Read from github.com/AI-SDC/ACRO: ``acro/acro_tables.py`` at commit
0127c2714481f17bdce174260705c0c6dbd7db5e (the rule functions are unchanged at
6f13c06758b13fe2c0535ce0034afbdb227b4813), ``acro/default.yaml`` at
07a272825eb00559484b5b6361b87ad23213e898; ``acro/version.py`` reads 0.4.11.

ACRO's definitions, for a cell whose contributions are the vector ``x`` (ACRO: one
value per record; Sluice: one per privacy unit, i.e. each unit's own sum), sorted
so that x1 >= x2 >= ..., with size m and total T = sum(x):

- threshold (``safe_threshold: 10``): disclosive when m < 10 (``agg_threshold``
  counts non-null values). An empty cell is disclosive.
- p-ratio (``safe_pratio_p: 0.10``): if T <= 0 or m <= 1 the verdict is
  ``zeros_are_disclosive`` (default true); otherwise p = (T - x1 - x2) / x1 and
  the cell is disclosive when p < 0.10 (strict). With m == 2, p == 0.
- nk-dominance (``safe_nk_n: 2``, ``safe_nk_k: 0.90``): if T > 0, disclosive when
  (x1 + ... + xN) / T > 0.90 (strict); if T <= 0 never disclosive. With m < N the
  slice is shorter: a single contributor gives a share of 1.
- negatives (``agg_negative``): a cell is flagged when min(x) < 0. If any cell of
  a table is flagged ACRO applies no suppression at all, labels those cells
  "negative" and sends the table to review: dominance is undefined there.
- zeros (``zeros_are_disclosive: true``): used only in the p-ratio branch above.
  A frequency cell of 0 already fails the threshold (0 < 10). ACRO's newer
  ontology checks (``acro/sdcchecks.py``, ``PresenceOfZeroCheck``) flag count == 0
  directly; Sluice flags a zero count as rule "zero".
- missing values (``check_missing_values: false``): off by default; when on, a
  cell holding a null value is flagged and, like negatives, stops suppression.
  SQL aggregates skip NULLs, so Sluice follows the default and does not check.

Reduction to companions. Every formula above reads only m, x1, x2 and T, so a
cell's verdict follows exactly from (n, top1, top2, total) computed inside the
sandbox: m = n, x1 = top1, x2 = top2 (0 when n < 2), T = total. When every
contribution is >= 0 the sum of absolute contributions equals T and the two
largest absolute values equal x1 and x2, so (n, top1, top2, abs_total) is exact;
a cell with a negative contribution is detected by abs_total > signed total and
gets ACRO's "negative" verdict instead of p-ratio or nk. Because companions only
carry the two largest contributions, nk_n is limited to 1 or 2.

ACRO's newer, ontology-driven checks (``acro/sdcchecks.py`` at commit
012b3e0a41ced50686f185d23e00e91783ce73ac) differ at the edges: nk fails at share
>= k, and p-ratio treats x1 == 0 as safe. Sluice follows acro_tables.py, which the
released ``ACRO.crosstab`` and ``ACRO.pivot_table`` use.

Each rule below is one check over a column's `Cells` and one registry entry
(gate.registry); the gate applies them in the order they are registered here.

Sluice differs from ACRO on purpose in one place: a negative cell is suppressed
(fail closed) rather than left in and the whole table sent to review, because
release here is automatic suppression followed by review, not review alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from core.cells import AGGREGATES, CellKind
from gate.registry import (
    Cells,
    DisclosureRules,
    Parameter,
    Rule,
    Verdict,
    Weaker,
    number,
    register,
    register_parameter,
    rule_name,
)

__all__ = [
    "DisclosureRules",
    "has_negative",
    "nk_fails",
    "nk_share",
    "p_ratio",
    "p_ratio_fails",
    "round_to_base",
    "rule_name",
    "threshold_fails",
    "zero_fails",
]

# Relative slack when comparing the absolute and signed totals of the same numbers,
# which SQL may have summed in different orders.
_SUM_TOLERANCE = 1e-9

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]


def _floats(values: ArrayLike) -> Floats:
    return np.asarray(values, dtype=np.float64)


def threshold_fails(n: ArrayLike, rules: DisclosureRules) -> Bools:
    """ACRO agg_threshold: fewer than `threshold` contributors (a missing n counts as 0)."""
    units = np.nan_to_num(_floats(n), nan=0.0)
    return units < rules.threshold


def zero_fails(count: ArrayLike, rules: DisclosureRules) -> Bools:
    """A zero count says no unit has the attribute (class disclosure)."""
    values = _floats(count)
    return np.asarray(rules.zeros_disclosive & (values == 0), dtype=bool)


def p_ratio(n: ArrayLike, top1: ArrayLike, top2: ArrayLike, total: ArrayLike) -> Floats:
    """(T - x1 - x2) / x1: how closely the runner-up can estimate the largest value.

    NaN where ACRO does not compute it (T <= 0 or n <= 1).
    """
    units, first, total_ = _floats(n), _floats(top1), _floats(total)
    second = np.where(units < 2, 0.0, _floats(top2))
    defined = (total_ > 0) & (units > 1) & (first > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (total_ - first - second) / first
    return np.where(defined, ratio, np.nan)


def p_ratio_fails(
    n: ArrayLike, top1: ArrayLike, top2: ArrayLike, total: ArrayLike, rules: DisclosureRules
) -> Bools:
    """ACRO agg_p_percent: p < p_ratio; undefined cells (T <= 0, n <= 1) follow zeros rule."""
    units, total_ = _floats(n), _floats(total)
    undefined = (total_ <= 0) | (units <= 1)
    ratio = p_ratio(n, top1, top2, total)
    with np.errstate(invalid="ignore"):
        small = ratio < rules.p_ratio
    return np.where(undefined, rules.zeros_disclosive, small)


def nk_share(
    n: ArrayLike, top1: ArrayLike, top2: ArrayLike, total: ArrayLike, nk_n: int = 2
) -> Floats:
    """Share of the total held by the nk_n largest contributors; NaN when T <= 0."""
    units, first, total_ = _floats(n), _floats(top1), _floats(total)
    top = first
    if nk_n >= 2:
        top = first + np.where(units < 2, 0.0, _floats(top2))
    with np.errstate(divide="ignore", invalid="ignore"):
        share = top / total_
    return np.where(total_ > 0, share, np.nan)


def nk_fails(
    n: ArrayLike, top1: ArrayLike, top2: ArrayLike, total: ArrayLike, rules: DisclosureRules
) -> Bools:
    """ACRO agg_nk: top-n share > k (strict); a total <= 0 never fails."""
    share = nk_share(n, top1, top2, total, rules.nk_n)
    with np.errstate(invalid="ignore"):
        return np.asarray(share > rules.nk_k, dtype=bool)


def has_negative(abs_total: ArrayLike, signed_total: ArrayLike) -> Bools:
    """ACRO agg_negative, from totals: sum|x| exceeds sum x only if some x < 0."""
    absolute, signed = _floats(abs_total), _floats(signed_total)
    slack = _SUM_TOLERANCE * np.maximum(1.0, np.abs(absolute))
    with np.errstate(invalid="ignore"):
        return np.asarray(absolute - signed > slack, dtype=bool)


def round_to_base(values: ArrayLike, base: int) -> Floats:
    """Round half away from zero to a multiple of `base` (not numpy's half-to-even)."""
    scaled = _floats(values) / base
    return np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) * base


def _is_int(value: Any, least: int) -> bool:
    return isinstance(value, int) and value >= least


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float)


# The rules, as the gate applies them to each aggregate column.


def threshold_check(cells: Cells, rules: DisclosureRules) -> Verdict:
    n = cells.n
    return Verdict(
        threshold_fails(n, rules), lambda i: {"n": number(n[i]), "threshold": rules.threshold}
    )


def zero_check(cells: Cells, rules: DisclosureRules) -> Verdict:
    n = cells.n
    return Verdict(zero_fails(cells.value, rules), lambda i: {"count": 0, "n": number(n[i])})


def negative_check(cells: Cells, _rules: DisclosureRules) -> Verdict:
    n = cells.n
    return Verdict(cells.negative, lambda i: {"n": number(n[i])})


def p_ratio_check(cells: Cells, rules: DisclosureRules) -> Verdict:
    """Where a contribution is negative the "negative" rule speaks instead (ACRO)."""
    n, top1, top2, absolute = cells.n, cells.top1, cells.top2, cells.absolute
    ratio = p_ratio(n, top1, top2, absolute)
    return Verdict(
        p_ratio_fails(n, top1, top2, absolute, rules) & ~cells.negative,
        lambda i: {
            "p": number(ratio[i]),
            "limit": rules.p_ratio,
            "n": number(n[i]),
            "zeros_disclosive": rules.zeros_disclosive,
        },
    )


def nk_check(cells: Cells, rules: DisclosureRules) -> Verdict:
    n, top1, top2, absolute = cells.n, cells.top1, cells.top2, cells.absolute
    share = nk_share(n, top1, top2, absolute, rules.nk_n)
    return Verdict(
        nk_fails(n, top1, top2, absolute, rules) & ~cells.negative,
        lambda i: {"share": number(share[i]), "k": rules.nk_k, "n_largest": rules.nk_n},
    )


CONTRIBUTED = frozenset({CellKind.SUM, CellKind.AVG})  # cells whose contributions are known

register(
    Rule(
        "threshold",
        problem="rests on {n} privacy units, fewer than {threshold}",
        suggestion="Coarsen the grouping so every cell rests on at least {threshold} units.",
        check=threshold_check,
        kinds=AGGREGATES,
        parameters=(
            Parameter(
                "threshold",
                default=10,
                weaker=Weaker.LOWER,
                valid=lambda v: _is_int(v, 1),
                requirement="must be an integer >= 1",
                acro_name="safe_threshold",
            ),
        ),
    )
)
register(
    Rule(
        "zero",
        problem="is a zero count",
        suggestion="Merge categories: a zero count reveals that no unit has the attribute.",
        check=zero_check,
        kinds=frozenset({CellKind.COUNT}),
        parameters=(
            Parameter(
                "zeros_disclosive",  # read by the p-ratio rule too
                default=True,
                weaker=Weaker.LOWER,
                valid=lambda v: isinstance(v, bool),
                requirement="must be true or false",
                acro_name="zeros_are_disclosive",
            ),
        ),
    )
)
register(
    Rule(
        "negative",
        problem="has negative contributions, for which dominance is undefined",
        suggestion="Bound the measure at 0 or above, or split gains and losses into two measures.",
        check=negative_check,
        kinds=CONTRIBUTED,
    )
)
register(
    Rule(
        "p_ratio",
        problem="fails the p-ratio rule (p = {p}, limit {limit}; undefined p fails)",
        suggestion="Merge the group with a neighbour or release counts: one unit dominates it.",
        check=p_ratio_check,
        kinds=CONTRIBUTED,
        parameters=(
            Parameter(
                "p_ratio",
                default=0.10,
                weaker=Weaker.LOWER,
                valid=lambda v: _is_number(v) and 0 <= v < 1,
                requirement="must be in [0, 1)",
                acro_name="safe_pratio_p",
            ),
        ),
    )
)
register(
    Rule(
        "nk_dominance",
        problem="the largest {n_largest} contributors hold {share} of the total, above {k}",
        suggestion="Merge the group with a neighbour or release counts: few units dominate it.",
        check=nk_check,
        kinds=CONTRIBUTED,
        parameters=(
            Parameter(
                "nk_n",
                default=2,
                weaker=Weaker.LOWER,
                valid=lambda v: v in (1, 2),
                requirement="must be 1 or 2: companions carry only the two largest values",
                acro_name="safe_nk_n",
            ),
            Parameter(
                "nk_k",
                default=0.90,
                weaker=Weaker.HIGHER,
                valid=lambda v: _is_number(v) and 0 < v <= 1,
                requirement="must be in (0, 1]",
                acro_name="safe_nk_k",
            ),
        ),
    )
)
# Rounding finds nothing: it is applied to every released count and sum. A larger
# base protects more; None (no rounding) least.
register_parameter(
    Parameter(
        "rounding_base",
        default=None,
        weaker=Weaker.LOWER,
        valid=lambda v: v is None or _is_int(v, 2),
        requirement="must be None or an integer >= 2",
    )
)
