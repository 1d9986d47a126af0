"""Keys that cannot identify: a group below the threshold goes whole, key included,
unless every key value comes from a declared public code list."""

from __future__ import annotations

import pandas as pd

from core.cells import CellKind
from gate.disclosure import DisclosureRules
from gate.tables import CellSpec, check_table

COUNT = CellSpec("n", CellKind.COUNT)


def frame(keys: list[str], n: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"k": keys, "n": n, "__n": n})


def test_a_small_group_under_a_free_key_is_removed_whole() -> None:
    """`CASE WHEN <one enterprise> THEN 'T' ELSE district END`: the row 'T' alone says
    the enterprise is in the data, so it must not appear at all, not even blanked."""
    table = frame(["海曙区", "T", "江北区"], [40, 1, 25])
    result = check_table(table, [CellSpec("k", CellKind.GROUP_KEY), COUNT], DisclosureRules())
    assert result.table["k"].tolist() == ["海曙区", "江北区"]
    assert result.removed_rows == 1
    assert "T" not in result.table.to_csv()


def test_a_small_group_under_public_categories_keeps_its_row_without_figures() -> None:
    public = CellSpec("k", CellKind.GROUP_KEY, ("海曙区", "江北区", "镇海区"))
    result = check_table(frame(["海曙区", "镇海区", "江北区"], [40, 3, 25]), [public, COUNT],
                         DisclosureRules(max_suppressed_share=1.0))  # fmt: skip
    assert result.table["k"].tolist() == ["海曙区", "镇海区", "江北区"]
    assert pd.isna(result.table["n"].iloc[1])  # (and one more, secondary, to guard the total)
    assert result.removed_rows == 0


def test_a_value_outside_the_code_list_is_not_public() -> None:
    """Declaring `district` public does not make 'T' public when an expression yields it."""
    public = CellSpec("k", CellKind.GROUP_KEY, ("海曙区", "江北区"))
    result = check_table(frame(["海曙区", "T", "江北区"], [40, 1, 25]), [public, COUNT],
                         DisclosureRules())  # fmt: skip
    assert result.table["k"].tolist() == ["海曙区", "江北区"]


def test_every_key_must_be_public_for_the_row_to_stay() -> None:
    table = pd.DataFrame({"d": ["海曙区", "海曙区"], "s": ["月湖街道", "T"], "n": [30, 2]})
    table["__n"] = table["n"]
    cells = [
        CellSpec("d", CellKind.GROUP_KEY, ("海曙区",)),
        CellSpec("s", CellKind.GROUP_KEY),  # a street: L2, no public list
        COUNT,
    ]
    result = check_table(table, cells, DisclosureRules())
    assert result.table["s"].tolist() == ["月湖街道"]
