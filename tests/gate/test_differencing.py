"""The differencing check: two outputs whose matching groups differ by a few units.

Each case is an earlier and a later table as (group key values, __n, released);
the later one must be flagged exactly when some group present and released in
both differs by more than 0 and fewer than the threshold's units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gate.differencing import find_differencing, group_units

THRESHOLD = 10


def groups(keys: dict[str, list], n: list[float], released: list[bool] | None = None):
    frame = pd.DataFrame({**keys, "__n": n})
    flags = np.array(released if released is not None else [True] * len(n))
    return group_units(frame, list(keys), flags)


DISTRICTS = ["海曙区", "江北区", "镇海区"]
CASES = {
    # the same query with one narrow filter changed: one enterprise fewer in one district
    "one_unit_filtered_out": (
        groups({"district": DISTRICTS}, [120, 80, 45]),
        groups({"district": DISTRICTS}, [120, 79, 45]),
        True,
    ),
    "identical_rerun": (
        groups({"district": DISTRICTS}, [120, 80, 45]),
        groups({"district": DISTRICTS}, [120, 80, 45]),
        False,
    ),
    "broad_filter": (
        groups({"district": DISTRICTS}, [120, 80, 45]),
        groups({"district": DISTRICTS}, [60, 40, 20]),
        False,
    ),
    "difference_of_exactly_the_threshold": (
        groups({"district": DISTRICTS}, [120, 80, 45]),
        groups({"district": DISTRICTS}, [110, 70, 35]),
        False,
    ),
    "renamed_and_reordered_keys": (
        groups(
            {"district": DISTRICTS * 2, "industry": ["制造业"] * 3 + ["批发业"] * 3},
            [30, 31, 32, 40, 41, 42],
        ),
        groups(
            {"行业": ["制造业"] * 3 + ["批发业"] * 3, "区": DISTRICTS * 2}, [30, 31, 32, 40, 41, 39]
        ),
        True,
    ),
    "grand_totals": (groups({}, [3000]), groups({}, [2999]), True),
    "disjoint_groups": (
        groups({"district": DISTRICTS}, [120, 80, 45]),
        groups({"district": ["北仑区", "鄞州区"]}, [121, 81]),
        False,
    ),
    "group_suppressed_earlier": (
        groups({"district": DISTRICTS}, [120, 80, 45], [True, False, True]),
        groups({"district": DISTRICTS}, [120, 79, 45]),
        False,
    ),
    "group_suppressed_later": (
        groups({"district": DISTRICTS}, [120, 80, 45]),
        groups({"district": DISTRICTS}, [120, 79, 45], [True, False, True]),
        False,
    ),
    "numbers_compare_by_value": (
        groups({"year": [2019, 2020]}, [50, 60]),
        groups({"year": [2019.0, 2020.0]}, [50, 58]),
        True,
    ),
    "null_keys_match_each_other": (
        groups({"district": [None, "江北区"]}, [50, 60]),
        groups({"district": [np.nan, "江北区"]}, [47, 60]),
        True,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_differencing_cases(case: str) -> None:
    earlier, later, flagged = CASES[case]
    found = find_differencing(later, {"job 1 (released)": earlier}, THRESHOLD)
    assert bool(found) is flagged
    for finding in found:
        assert finding.rule == "differencing" and finding.figures["earlier"] == "job 1 (released)"
        assert 0 < finding.figures["difference"] < THRESHOLD
        assert "job 1" not in finding.suggestion  # operators see suggestions, not figures


def test_one_finding_per_earlier_output_naming_the_rows() -> None:
    earlier = groups({"district": DISTRICTS}, [120, 80, 45])
    later = groups({"district": DISTRICTS}, [119, 80, 41])
    found = find_differencing(later, {"job 1": earlier, "job 2": later}, THRESHOLD)
    assert len(found) == 1
    assert found[0].figures["rows"] == [0, 2] and found[0].figures["groups"] == 2
    assert found[0].figures["difference"] == 1 and found[0].row == 0


def test_key_is_order_free_text() -> None:
    a = groups({"x": ["a"], "y": [1]}, [10])
    b = groups({"y": [1], "x": ["a"]}, [10])
    assert a["key"].tolist() == b["key"].tolist()
    assert groups({}, [5])["key"].tolist() == [""]
