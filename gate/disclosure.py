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

Sluice differs from ACRO on purpose in one place: a negative cell is suppressed
(fail closed) rather than left in and the whole table sent to review, because
release here is automatic suppression followed by review, not review alone.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from core.errors import InvalidInput, Reason, Step

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

# ACRO's configuration names, accepted by from_dict so an ACRO yaml can be reused.
_ACRO_NAMES = {
    "safe_threshold": "threshold",
    "safe_pratio_p": "p_ratio",
    "safe_nk_n": "nk_n",
    "safe_nk_k": "nk_k",
    "zeros_are_disclosive": "zeros_disclosive",
}
# Relative slack when comparing the absolute and signed totals of the same numbers,
# which SQL may have summed in different orders.
_SUM_TOLERANCE = 1e-9

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]


@dataclass(frozen=True)
class DisclosureRules:
    """The gate's parameters; defaults are ACRO's defaults (default.yaml)."""

    threshold: int = 10
    p_ratio: float = 0.10
    nk_n: int = 2
    nk_k: float = 0.90
    zeros_disclosive: bool = True
    rounding_base: int | None = None
    max_suppressed_share: float = 0.5

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.threshold, int) or self.threshold < 1:
            problems.append("threshold must be an integer >= 1")
        if not 0 <= self.p_ratio < 1:
            problems.append("p_ratio must be in [0, 1)")
        if self.nk_n not in (1, 2):
            problems.append("nk_n must be 1 or 2: companions carry only the two largest values")
        if not 0 < self.nk_k <= 1:
            problems.append("nk_k must be in (0, 1]")
        if self.rounding_base is not None and (
            not isinstance(self.rounding_base, int) or self.rounding_base < 2
        ):
            problems.append("rounding_base must be None or an integer >= 2")
        if not 0 <= self.max_suppressed_share <= 1:
            problems.append("max_suppressed_share must be in [0, 1]")
        if problems:
            raise InvalidInput(
                "invalid disclosure rules: " + "; ".join(problems),
                [Reason(rule="disclosure_rules", message=p) for p in problems],
            )

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        *,
        allow_weaker: bool | Collection[str] = False,
        base: DisclosureRules | None = None,
    ) -> DisclosureRules:
        """Rules from configuration, starting from `base` (ACRO's defaults unless given).

        A value that protects less than `base` is refused unless opted in by name:
        `allow_weaker` lists the parameters that may be weaker (True allows all).
        """
        start = base or cls()
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = _ACRO_NAMES.get(key, key)
            if name not in known:
                raise InvalidInput(
                    f"unknown disclosure rule {key!r}",
                    [Reason(rule="disclosure_rules", message=f"known: {sorted(known)}")],
                )
            values[name] = value
        rules = replace(start, **values)
        allowed = set(known) if allow_weaker is True else set(allow_weaker or ())
        if allowed - known:
            raise InvalidInput(
                f"allow_weaker names unknown rules {sorted(allowed - known)}",
                [Reason(rule="disclosure_rules", message=f"known: {sorted(known)}")],
            )
        refused = [name for name in rules.weaker_than(start) if name not in allowed]
        if refused:
            what = "the defaults" if base is None else "the rules they refine"
            hint = f"allow_weaker={refused!r}"
            reasons = [
                Reason(
                    rule="disclosure_rules",
                    message=f"{name} would be weaker than {what}",
                    suggestion=f"opt in by naming it: {hint}",
                )
                for name in refused
            ]
            raise InvalidInput(
                f"refusing disclosure rules weaker than {what} ({', '.join(refused)})",
                reasons,
                suggestion=f"opt in by naming them ({hint})",
                step=Step.ALLOW_WEAKER,
            )
        return rules

    @classmethod
    def strictest(cls, first: DisclosureRules, *others: DisclosureRules) -> DisclosureRules:
        """Per parameter, the most protective of these rules (for outputs over several datasets)."""
        every = (first, *others)
        bases = [r.rounding_base for r in every if r.rounding_base]
        return cls(
            threshold=max(r.threshold for r in every),
            p_ratio=max(r.p_ratio for r in every),
            nk_n=max(r.nk_n for r in every),
            nk_k=min(r.nk_k for r in every),
            zeros_disclosive=any(r.zeros_disclosive for r in every),
            rounding_base=max(bases) if bases else None,
            max_suppressed_share=min(r.max_suppressed_share for r in every),
        )

    def weaker_than(self, other: DisclosureRules) -> list[str]:
        """Names of the parameters on which these rules protect less than `other`."""
        weaker = []
        if self.threshold < other.threshold:
            weaker.append("threshold")
        if self.p_ratio < other.p_ratio:
            weaker.append("p_ratio")
        if self.nk_n < other.nk_n:
            weaker.append("nk_n")
        if self.nk_k > other.nk_k:
            weaker.append("nk_k")
        if other.zeros_disclosive and not self.zeros_disclosive:
            weaker.append("zeros_disclosive")
        if self.max_suppressed_share > other.max_suppressed_share:
            weaker.append("max_suppressed_share")
        if other.rounding_base and (self.rounding_base or 0) < other.rounding_base:
            weaker.append("rounding_base")
        return weaker

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rule_name(key: str) -> str:
    """The Sluice name of a rule given by its own or by ACRO's configuration name."""
    return _ACRO_NAMES.get(key, key)


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
