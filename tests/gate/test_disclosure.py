"""The disclosure rules and the output gate agree with ACRO's definitions, cell by cell.

The reference below is written from ACRO's acro_tables.py (agg_threshold,
agg_p_percent, agg_nk, agg_negative) over full contribution vectors; the gate sees
only the companions (n, top1, top2, abs) the rewriter would compute from the same rows.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd
import pytest

from core.cells import CellKind
from core.errors import InvalidInput
from gate import disclosure as sdc
from gate.disclosure import DisclosureRules
from gate.tables import CellSpec, check_table, companion_columns
from gate.value_scan import Combination

DEFAULTS = DisclosureRules()


# The keys in these tables are declared public code lists (as `district` and `industry`
# are in the demo schema), so a group below the threshold keeps its row and loses only
# its figures: these tests are about which figures go. Removal of rows whose keys are
# not public is tested in tests/gate/test_keys.py.
PUBLIC = tuple(
    [f"{p}{i}" for p in ("d", "g", "") for i in range(1000)]
    + list("abcdefghijklmnopqrstuvwxyz")
    + ["2019-03-04", "2020-01-01", "2021-07-08"]
)


def key(column: str) -> CellSpec:
    return CellSpec(column, CellKind.GROUP_KEY, PUBLIC)


def acro_p_ratio(x: list[float], rules: DisclosureRules) -> bool:
    ordered = sorted(x, reverse=True)
    total = sum(ordered)
    if total <= 0 or len(ordered) <= 1:
        return rules.zeros_disclosive
    return (total - ordered[0] - ordered[1]) / ordered[0] < rules.p_ratio


def acro_nk(x: list[float], rules: DisclosureRules) -> bool:
    total = sum(x)
    if total > 0:
        return sum(sorted(x, reverse=True)[: rules.nk_n]) / total > rules.nk_k
    return False


def acro_verdicts(vector: list[float], rules: DisclosureRules) -> set[str]:
    """ACRO's flags for one SUM cell; dominance is not assessed where negatives exist."""
    flags = {"threshold"} if len(vector) < rules.threshold else set()  # agg_threshold
    if min(vector) < 0:  # agg_negative
        return flags | {"negative"}
    if acro_p_ratio(vector, rules):
        flags.add("p_ratio")
    if acro_nk(vector, rules):
        flags.add("nk_dominance")
    return flags


@functools.cache
def random_records(seed: int, groups: int = 300) -> pd.DataFrame:
    """Row-level records with several rows per unit and planted dominant units."""
    rng = np.random.default_rng(seed)
    grp: list[str] = []
    unit: list[str] = []
    fee: list[float] = []
    for g in range(groups):
        units = int(rng.integers(1, 25))
        per_unit = rng.integers(0, 50, units).astype(float)
        shape = rng.integers(0, 6)
        if shape == 1:  # one dominant unit
            per_unit[0] = per_unit.sum() * rng.integers(5, 50)
        elif shape == 2:  # two dominant units: p-ratio bites where nk may not
            per_unit[:2] = per_unit.sum() * rng.integers(5, 50)
        elif shape == 3:
            per_unit[:] = 0
        elif shape == 4:
            per_unit[int(rng.integers(0, units))] = -float(rng.integers(1, 40))
        for u, amount in enumerate(per_unit):
            # split each unit's contribution over 1-3 rows, as real records would be
            parts = int(rng.integers(1, 4))
            shares = [amount // parts] * parts
            shares[0] += amount - sum(shares)
            grp += [f"g{g}"] * parts
            unit += [f"g{g}u{u}"] * parts
            fee += shares
    return pd.DataFrame({"grp": grp, "unit": unit, "fee": fee})


def gate_input(records: pd.DataFrame) -> pd.DataFrame:
    """GROUP BY grp with SUM(fee), AVG(fee) and companions, as the rewritten SQL would emit."""
    per_unit = records.groupby(["grp", "unit"], sort=True)["fee"].sum().reset_index()
    per_unit["mag"] = per_unit["fee"].abs()
    ranked = per_unit.sort_values(["grp", "mag"], ascending=[True, False])
    ranked["rank"] = ranked.groupby("grp").cumcount()
    top = ranked.pivot_table(index="grp", columns="rank", values="mag", aggfunc="first")
    out = per_unit.groupby("grp").agg(fee=("fee", "sum"), __n=("unit", "nunique"))
    rows = records.groupby("grp")["fee"].count()
    out["fee_avg"] = out["fee"] / rows
    for column in ("fee", "fee_avg"):
        names = companion_columns(column)
        out[names["top1"]] = top[0]
        out[names["top2"]] = top[1].fillna(0.0)  # the rewriter's COALESCE(..., 0)
        out[names["abs"]] = per_unit.groupby("grp")["mag"].sum()
    out[companion_columns("fee_avg")["cnt"]] = rows
    return out.reset_index()


def vectors(records: pd.DataFrame) -> dict[str, list[float]]:
    per_unit = records.groupby(["grp", "unit"], sort=True)["fee"].sum()
    return {g: per_unit.loc[g].tolist() for g in per_unit.index.get_level_values(0).unique()}


SUM_CELLS = [key("grp"), CellSpec("fee", "sum"), CellSpec("fee_avg", "avg")]


def primary_flags(result, frame: pd.DataFrame, column: str) -> dict[str, set[str]]:
    flags: dict[str, set[str]] = {g: set() for g in frame["grp"]}
    for finding in result.findings:
        if finding.column == column and finding.row is not None and finding.rule != "secondary":
            flags[frame["grp"].iloc[finding.row]].add(finding.rule)
    return flags


RULE_SETS = {
    "defaults": DEFAULTS,
    "nk_n_1": DisclosureRules(nk_n=1, nk_k=0.5),
    "zeros_not_disclosive": DisclosureRules(zeros_disclosive=False),
    "strict": DisclosureRules(threshold=15, p_ratio=0.2, nk_k=0.8),
}


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("rules_name", list(RULE_SETS))
def test_companions_give_acros_full_vector_verdicts(seed: int, rules_name: str) -> None:
    rules = RULE_SETS[rules_name]
    records = random_records(seed)
    frame = gate_input(records)
    lenient = DisclosureRules(**{**rules.to_dict(), "max_suppressed_share": 1.0})
    result = check_table(frame, SUM_CELLS, lenient, max_listed=None)
    expected = {g: acro_verdicts(v, rules) for g, v in vectors(records).items()}
    assert primary_flags(result, frame, "fee") == expected
    # AVG cells rest on the same contributions, so ACRO gives them the same verdicts
    assert primary_flags(result, frame, "fee_avg") == expected
    # with the signed-total companion the rewriter emits, nothing changes
    signed = frame.assign(__sum__fee=frame["fee"], __sum__fee_avg=frame["fee"])
    again = check_table(signed, SUM_CELLS, lenient, max_listed=None)
    assert primary_flags(again, frame, "fee_avg") == expected
    # the planted shapes really exercise every rule
    seen = set().union(*expected.values())
    assert {"threshold", "p_ratio", "nk_dominance", "negative"} <= seen


def test_cell_functions_match_reference_on_random_vectors() -> None:
    rng = np.random.default_rng(7)
    for _ in range(2000):
        x = rng.integers(0, 30, int(rng.integers(1, 15))).astype(float)
        if rng.random() < 0.3:
            x[0] = x.sum() * rng.integers(2, 40)
        mag = np.sort(x)[::-1]
        n, top1, top2, total = len(x), mag[0], mag[1] if len(x) > 1 else np.nan, x.sum()
        assert bool(sdc.p_ratio_fails(n, top1, top2, total, DEFAULTS)) == acro_p_ratio(
            list(x), DEFAULTS
        )
        assert bool(sdc.nk_fails(n, top1, top2, total, DEFAULTS)) == acro_nk(list(x), DEFAULTS)


def test_threshold_boundary() -> None:
    assert sdc.threshold_fails([9, 10, 11, 0], DEFAULTS).tolist() == [True, False, False, True]


@pytest.mark.parametrize(
    ("n", "top1", "top2", "total", "fails"),
    [
        (3, 100, 50, 160, False),  # p = 10/100 = 0.10, not below
        (3, 100, 50, 159, True),  # p = 0.09
        (2, 100, 50, 150, True),  # two contributors: p = 0
        (1, 100, np.nan, 100, True),  # a single contributor: zeros_are_disclosive
        (12, 0, 0, 0, True),  # total 0: zeros_are_disclosive
    ],
)
def test_p_ratio_boundary(n, top1, top2, total, fails) -> None:
    assert bool(sdc.p_ratio_fails(n, top1, top2, total, DEFAULTS)) is fails
    assert acro_p_ratio(_vector(n, top1, top2, total), DEFAULTS) is fails


def _vector(n: int, top1: float, top2: float, total: float) -> list[float]:
    """A vector with these companions: the rest of the total spread over the others."""
    if n == 1:
        return [top1]
    rest = [(total - top1 - top2) / (n - 2)] * (n - 2) if n > 2 else []
    return [top1, top2, *rest]


def test_zero_total_and_single_unit_pass_when_zeros_not_disclosive() -> None:
    lax = DisclosureRules(zeros_disclosive=False)
    assert not sdc.p_ratio_fails([1, 12], [100, 0], [np.nan, 0], [100, 0], lax).any()


@pytest.mark.parametrize(
    ("n", "top1", "top2", "total", "fails"),
    [
        (4, 50, 40, 100, False),  # share 0.90, not above
        (4, 50, 40, 99, True),  # share 0.909
        (1, 7, np.nan, 7, True),  # a single contributor holds everything
        (5, 0, 0, 0, False),  # total 0: ACRO never flags
    ],
)
def test_nk_boundary(n, top1, top2, total, fails) -> None:
    assert bool(sdc.nk_fails(n, top1, top2, total, DEFAULTS)) is fails
    assert acro_nk(_vector(n, top1, top2, total), DEFAULTS) is fails


def test_zeros_and_negatives_and_rounding() -> None:
    assert sdc.zero_fails([0, 1, 5], DEFAULTS).tolist() == [True, False, False]
    assert not sdc.zero_fails([0], DisclosureRules(zeros_disclosive=False)).any()
    assert sdc.has_negative([10, 10, 1e12], [10, 6, 1e12]).tolist() == [False, True, False]
    rounded = sdc.round_to_base([0, 2, 2.5, 3, 7, 7.5, 12, -3], 5)
    assert rounded.tolist() == [0, 0, 5, 5, 5, 10, 10, -5]


def test_rules_refuse_weaker_values_unless_opted_in_by_name() -> None:
    assert DisclosureRules.from_dict({}) == DEFAULTS
    with pytest.raises(InvalidInput) as refused:
        DisclosureRules.from_dict({"threshold": 5, "nk_k": 0.95})
    assert "allow_weaker=['threshold', 'nk_k']" in str(refused.value)
    assert {r.message.split()[0] for r in refused.value.reasons} == {"threshold", "nk_k"}
    assert DisclosureRules.from_dict({"threshold": 5}, allow_weaker=True).threshold == 5
    # naming one weaker rule opts in to that one only
    assert DisclosureRules.from_dict({"threshold": 5}, allow_weaker=["threshold"]).threshold == 5
    with pytest.raises(InvalidInput, match="nk_k"):
        DisclosureRules.from_dict({"threshold": 5, "nk_k": 0.95}, allow_weaker=["threshold"])
    with pytest.raises(InvalidInput, match="unknown"):
        DisclosureRules.from_dict({}, allow_weaker=["treshold"])
    stronger = DisclosureRules.from_dict(
        {"safe_threshold": 20, "safe_pratio_p": 0.2, "rounding_base": 5}
    )
    assert (stronger.threshold, stronger.p_ratio, stronger.rounding_base) == (20, 0.2, 5)


@pytest.mark.parametrize(
    "data",
    [{"nk_n": 3}, {"threshold": 0}, {"p_ratio": 1.5}, {"rounding_base": 1}, {"colour": "red"}],
)
def test_rules_refuse_invalid_values(data: dict) -> None:
    with pytest.raises(InvalidInput):
        DisclosureRules.from_dict(data, allow_weaker=True)


def table(n: list[int], fee: list[float] | None = None, **extra) -> pd.DataFrame:
    """A district table whose sums are spread evenly (no dominance) unless told."""
    fee = fee if fee is not None else [10.0 * k for k in n]
    names = companion_columns("fee")
    frame = pd.DataFrame(
        {"district": [f"d{i}" for i in range(len(n))], "cnt": n, "fee": fee, "__n": n}
    )
    frame[names["top1"]] = [f / k if k else 0.0 for f, k in zip(fee, n, strict=True)]
    frame[names["top2"]] = frame[names["top1"]]
    frame[names["abs"]] = fee
    for key, values in extra.items():
        frame[key] = values
    return frame


CELLS = [key("district"), CellSpec("cnt", "count"), CellSpec("fee", "sum")]


def rules_of(result) -> set[tuple[int | None, str | None, str]]:
    return {(f.row, f.column, f.rule) for f in result.findings}


def test_gate_threshold_boundary_and_secondary_suppression() -> None:
    result = check_table(table([9, 10, 30, 12]), CELLS, DEFAULTS)
    assert ("threshold", 1) not in {(f.rule, f.row) for f in result.findings}
    assert {(0, "cnt", "threshold"), (0, "fee", "threshold")} <= rules_of(result)
    # the one suppressed row could be recovered from a grand total: the smallest other goes too
    assert {(1, "cnt", "secondary"), (1, "fee", "secondary")} <= rules_of(result)
    secondary = next(f for f in result.findings if f.rule == "secondary")
    assert secondary.figures["protects_row"] == 0
    assert result.table["cnt"].isna().tolist() == [True, True, False, False]
    assert result.table["fee"].isna().tolist() == [True, True, False, False]
    assert not result.blocked and result.suppressed_share == 0.5 and result.cells_checked == 8
    assert list(result.table.columns) == ["district", "cnt", "fee"]


def test_no_secondary_when_two_rows_are_already_suppressed() -> None:
    result = check_table(table([3, 4, 30, 12, 15]), CELLS, DEFAULTS)
    assert not any(f.rule == "secondary" for f in result.findings)
    assert result.table["cnt"].isna().tolist() == [True, True, False, False, False]


def test_two_way_table_protects_every_row_and_column_of_the_pivot() -> None:
    districts, industries = ["a", "b", "c"], ["x", "y", "z"]
    rows = [(d, i) for d in districts for i in industries]
    n = [4 if (d, i) == ("b", "y") else 20 + k for k, (d, i) in enumerate(rows)]
    frame = table(n).drop(columns="district")
    frame.insert(0, "industry", [i for _, i in rows])
    frame.insert(0, "district", [d for d, _ in rows])
    cells = [key("district"), key("industry"), *CELLS[1:]]
    result = check_table(frame, cells, DisclosureRules(max_suppressed_share=1.0))
    hidden = frame.assign(h=result.table["cnt"].isna().to_numpy())
    for line in ("district", "industry"):
        per_line = hidden.groupby(line)["h"].sum()
        assert set(per_line.tolist()) <= {0, 2, 3}, per_line
    assert hidden["h"].sum() >= 4


def test_zero_count_and_negative_contribution() -> None:
    frame = table([12, 15, 20], fee=[120.0, 60.0, 200.0])
    frame["cnt"] = [12, 0, 20]  # e.g. COUNT(col) where col is null for every unit
    frame.loc[2, "fee"] = 140.0  # signed total below the absolute total: a negative unit
    result = check_table(frame, CELLS, DisclosureRules(max_suppressed_share=1.0))
    found = rules_of(result)
    assert (1, "cnt", "zero") in found
    assert (2, "fee", "negative") in found
    assert not {(2, "fee", "p_ratio"), (2, "fee", "nk_dominance")} & found
    assert pd.isna(result.table.loc[2, "fee"])


def test_avg_without_signed_total_judges_dominance_on_magnitudes() -> None:
    frame = table([20, 25, 30]).rename(columns=lambda c: c.replace("fee", "mean_fee"))
    frame["mean_fee"] = [3.0, 2.5, 4.0]  # averages over several rows per unit
    frame.loc[1, "__top1__mean_fee"] = 240.0
    cells = [*CELLS[:2], CellSpec("mean_fee", "avg")]
    found = rules_of(check_table(frame, cells, DEFAULTS))
    assert not any(rule == "negative" for _, _, rule in found)
    assert {(1, "mean_fee", "p_ratio"), (1, "mean_fee", "nk_dominance")} <= found


def test_dominant_contributor_suppressed_and_reported() -> None:
    frame = table([20, 25, 30])
    frame.loc[1, "__top1__fee"] = 240.0  # of 250: nk share > 0.9 and p < 0.1
    result = check_table(frame, CELLS, DEFAULTS)
    assert {(1, "fee", "p_ratio"), (1, "fee", "nk_dominance")} <= rules_of(result)
    nk = next(f for f in result.findings if f.rule == "nk_dominance")
    assert nk.figures["share"] > 0.9 and "0.9" in nk.message
    assert not pd.isna(result.table.loc[1, "cnt"])  # the count is not dominated


def test_too_much_suppressed_blocks() -> None:
    result = check_table(table([3, 4, 5, 30]), CELLS, DEFAULTS)
    assert result.blocked and result.suppressed_share > 0.5
    assert any(f.rule == "too_much_suppressed" for f in result.findings)


@pytest.mark.parametrize("dropped", ["__n", "__top1__fee", "__top2__fee", "__abs__fee"])
@pytest.mark.parametrize("how", ["absent", "null"])
def test_missing_companion_blocks(dropped: str, how: str) -> None:
    frame = table([20, 30, 40])
    if how == "absent":
        frame = frame.drop(columns=dropped)
    else:
        frame[dropped] = frame[dropped].astype(float).where(frame.index != 1)
    result = check_table(frame, CELLS, DEFAULTS)
    assert result.blocked
    missing = [f for f in result.findings if f.rule == "missing_companion"]
    assert missing and all(dropped in f.figures["missing"] for f in missing)
    assert result.table["fee"].isna().all()


def test_value_scan_blocks_without_naming_the_value() -> None:
    secret = "91330200MA2AB3CD4E"
    frame = table([20, 30, 40])
    frame.loc[2, "district"] = secret
    result = check_table(frame, CELLS, DEFAULTS, is_identifier=lambda v: v == secret)
    assert result.blocked
    hit = next(f for f in result.findings if f.rule == "value_scan")
    assert (hit.row, hit.column) == (2, "district")
    assert secret not in json.dumps(result.to_dict(), ensure_ascii=False)
    assert pd.isna(result.table.loc[2, "district"])


def test_rounding_base_five() -> None:
    # two small rows fail the threshold, so no secondary suppression is needed
    frame = table([12, 23, 3, 47, 4], fee=[121.0, 232.5, 30.0, 468.0, 40.0])
    result = check_table(frame, CELLS, DisclosureRules(rounding_base=5))
    assert result.table["cnt"].tolist() == [10, 25, pd.NA, 45, pd.NA]
    assert result.table["fee"].tolist()[:2] == [120.0, 235.0]
    assert result.table["fee"].isna().tolist() == [False, False, True, False, True]
    assert str(result.table["cnt"].dtype) == "Int64"


def test_value_columns_pass_through_and_result_is_json() -> None:
    frame = table([20, 30, 40], year=[2021, 2022, 2023])
    cells = [*CELLS, CellSpec("year", "value")]
    result = check_table(frame, cells, DEFAULTS)
    assert result.table["year"].tolist() == [2021, 2022, 2023]
    assert not any(c.startswith("__") for c in result.table.columns)
    json.dumps(result.to_dict(), allow_nan=False)


def test_spec_that_does_not_match_the_table_is_refused() -> None:
    with pytest.raises(InvalidInput):
        check_table(table([20]), CELLS[:2], DEFAULTS)  # fee not described
    with pytest.raises(InvalidInput):
        check_table(table([20]), [*CELLS, CellSpec("nope", "sum")], DEFAULTS)


def test_a_large_table_lists_a_bounded_number_of_findings_with_exact_counts() -> None:
    rows = 250_000  # x 4 columns; the speed is measured in bench/bench_gate.py
    units = np.random.default_rng(0).integers(1, 60, rows)
    frame = table(units.tolist())
    frame.insert(1, "industry", np.arange(rows) % 500)
    districts = CellSpec("district", CellKind.GROUP_KEY, tuple(frame["district"]))
    cells = [districts, key("industry"), *CELLS[1:]]
    result = check_table(frame, cells, DEFAULTS, is_identifier=lambda v: False)
    assert result.cells_checked == 2 * rows
    assert result.counts["threshold"] == 2 * int((units < 10).sum())
    listed = [f for f in result.findings if f.rule == "threshold"]
    assert len(listed) == 2 * 200 and result.unlisted > 0
    assert result.table["cnt"].isna().sum() >= (units < 10).sum()


def test_rules_refine_a_base_and_combine_to_the_strictest() -> None:
    domain = DisclosureRules(threshold=20, rounding_base=5)
    refined = DisclosureRules.from_dict({"nk_k": 0.8}, base=domain)
    assert (refined.threshold, refined.nk_k, refined.rounding_base) == (20, 0.8, 5)
    with pytest.raises(InvalidInput, match="rules they refine"):
        DisclosureRules.from_dict({"threshold": 15}, base=domain)  # above ACRO, below the domain
    with pytest.raises(InvalidInput, match="rounding_base"):
        DisclosureRules.from_dict({"rounding_base": None}, base=domain)
    mixed = DisclosureRules.strictest(
        DisclosureRules(threshold=5, nk_k=0.95, zeros_disclosive=False),
        DisclosureRules(p_ratio=0.2, nk_n=1, max_suppressed_share=0.3, rounding_base=3),
        DisclosureRules(threshold=12, rounding_base=5),
    )
    assert mixed == DisclosureRules(
        threshold=12,
        p_ratio=0.2,
        nk_n=2,
        nk_k=0.9,
        zeros_disclosive=True,
        rounding_base=5,
        max_suppressed_share=0.3,
    )


QUASI = ("founded", "street")


def quasi_table() -> pd.DataFrame:
    frame = table([20, 30, 40])
    frame.insert(1, "yr", ["2019-03-04", "2020-01-01", "2021-07-08"])
    return frame


def test_combination_scan_catches_renamed_and_reordered_quasi_identifiers() -> None:
    raw = {("2020-01-01", "d1")}  # a raw record's (founded, street)
    combination = Combination("firms", QUASI, lambda batch: [tuple(t) in raw for t in batch])
    frame = quasi_table()  # the street is in "district", the date in "yr": other names, order
    cells = [key("district"), key("yr"), *CELLS[1:]]
    result = check_table(frame, cells, DEFAULTS, combinations=[combination])
    hit = next(f for f in result.findings if f.rule == "combination_scan")
    assert result.blocked and hit.row == 1
    assert hit.figures["columns"] == ["yr", "district"] and hit.figures["dataset"] == "firms"
    assert pd.isna(result.table.loc[1, "yr"]) and pd.isna(result.table.loc[1, "district"])
    assert not pd.isna(result.table.loc[0, "yr"])
    assert "2020-01-01" not in json.dumps(result.to_dict(), ensure_ascii=False)


def test_combination_scan_passes_tables_without_a_match() -> None:
    combination = Combination("firms", QUASI, lambda batch: [False] * len(batch))
    cells = [key("district"), key("yr"), *CELLS[1:]]
    result = check_table(quasi_table(), cells, DEFAULTS, combinations=[combination])
    assert not result.blocked and "combination_scan" not in result.counts


def test_small_groups_lose_their_values_but_keep_their_labels() -> None:
    frame = pd.DataFrame(
        {
            "district": ["a", "b", "c", "d"],
            "first_industry": ["x", "y", "z", "w"],  # e.g. MIN(industry): a value per group
            "__n": [3, 40, 25, 31],
        }
    )
    cells = [key("district"), CellSpec("first_industry", "value")]
    result = check_table(frame, cells, DEFAULTS)
    assert result.table["district"].tolist() == ["a", "b", "c", "d"]
    assert result.table["first_industry"].isna().tolist() == [True, False, False, False]
    assert (0, "first_industry", "threshold") in rules_of(result)
    assert result.cells_checked == 4 and not result.blocked
    mostly_small = frame.assign(__n=[3, 4, 5, 31])
    assert check_table(mostly_small, cells, DEFAULTS).blocked
    # without __n (a public query) nothing is known about groups, and nothing is hidden
    public = check_table(frame.drop(columns="__n"), cells, DEFAULTS)
    assert not public.table.isna().any().any() and public.cells_checked == 0


def test_verdicts_do_not_depend_on_row_order() -> None:
    """Engines return rows in any order; the same table must get the same suppression."""
    import numpy as np

    from gate.tables import CellSpec, check_table

    rng = np.random.default_rng(3)
    keys = [(d, i) for d in "abcdef" for i in "xyzw"]
    n = rng.choice([3, 12, 12, 40], size=len(keys))
    frame = pd.DataFrame({"d": [k[0] for k in keys], "i": [k[1] for k in keys], "c": n, "__n": n})
    cells = [key("d"), key("i"), CellSpec("c", "count")]
    first = check_table(frame, cells, DisclosureRules())
    for seed in range(5):
        shuffled = frame.sample(frac=1, random_state=seed)
        again = check_table(shuffled, cells, DisclosureRules())
        assert list(again.table.index) == list(shuffled.index)  # the caller's order is kept
        pd.testing.assert_frame_equal(again.table.sort_index(), first.table.sort_index())
        rows = {(shuffled.index[f.row], f.rule) for f in again.findings if f.row is not None}
        assert rows == {(frame.index[f.row], f.rule) for f in first.findings if f.row is not None}
