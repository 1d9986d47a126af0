"""COUNT(DISTINCT x) means what SQL says: units for the privacy unit, the real distinct
count for anything else (noised, with the unit's contribution limit as sensitivity)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from catalog.schema import DatasetSchema, load_schema
from core.levels import Level
from policies.engine import LicenseScope, check_query

DEMO = Path(__file__).parents[2] / "catalog" / "demo"
EU, SI = "enterprise_utilities", "social_insurance"


@pytest.fixture(scope="module")
def schemas() -> dict[str, DatasetSchema]:
    found = [load_schema(DEMO / f"{EU}.yaml"), load_schema(DEMO / "social_security.yaml")]
    return {s.dataset: s for s in found}


def _store(**tables: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    for name, frame in tables.items():
        connection.register(name, frame)
    return connection


def _enterprises() -> pd.DataFrame:
    """Twelve enterprises over two founding years; districts repeat, one is missing."""
    return pd.DataFrame(
        {
            "enterprise_id": [f"e{i}" for i in range(12)],
            "founded": ["2020-01-01"] * 7 + ["2021-01-01"] * 5,
            "district": ["a", "a", "b", "c", None, "c", "a", "d", "d", "d", "e", None],
            "industry": ["x"] * 12,
            "water_fee": [10.0] * 12,
        }
    )


def _core(sql: str, schemas: dict[str, DatasetSchema], store: duckdb.DuckDBPyConnection):
    decision = check_query(sql, schemas, LicenseScope(tuple(schemas), Level.L3), 1.0)
    assert decision.decision == "rewrite", [str(r) for r in decision.reasons]
    return decision, store.execute(decision.sql).df()


def test_distinct_count_of_another_column_is_the_real_one(schemas) -> None:
    rows = _enterprises()
    store = _store(enterprise_utilities=rows)
    sql = f"SELECT founded, COUNT(DISTINCT district) AS d FROM {EU} GROUP BY founded"
    decision, core = _core(sql, {EU: schemas[EU]}, store)
    raw = store.execute(sql).df().sort_values("founded")
    assert core.sort_values("founded")["d"].tolist() == raw["d"].tolist() == [3, 2]
    assert core["__n"].sum() == 12  # units, as before
    [cell] = [c for c in decision.cells if c.column == "d"]
    assert cell.level is Level.L3 and not cell.count_distinct_unit and cell.sensitivity == 1.0
    assert [(n.column, n.sensitivity) for n in decision.noise] == [("d", 1.0)]


def test_distinct_count_of_the_privacy_unit_still_counts_units(schemas) -> None:
    store = _store(enterprise_utilities=_enterprises())
    sql = f"SELECT founded, COUNT(DISTINCT enterprise_id) AS n FROM {EU} GROUP BY founded"
    decision, core = _core(sql, {EU: schemas[EU]}, store)
    assert core.sort_values("founded")["n"].tolist() == [7, 5]
    assert "COUNT(__unit) AS __g" in decision.sql  # each unit once per group: no DISTINCT
    assert [c.count_distinct_unit for c in decision.cells if c.column == "n"] == [True]


def test_distinct_count_over_a_left_join_counts_the_matched_side(schemas) -> None:
    enterprises = _enterprises()
    insured = pd.DataFrame(
        {"enterprise_id": ["e0", "e2", "e3", "e8"], "insured_staff": [1] * 4, "contribution": 1.0}
    )
    store = _store(enterprise_utilities=enterprises, social_insurance=insured)
    sql = (
        "SELECT e.founded, COUNT(DISTINCT s.enterprise_id) AS covered "
        f"FROM {EU} e LEFT JOIN {SI} s ON e.enterprise_id = s.enterprise_id GROUP BY e.founded"
    )
    _, core = _core(sql, schemas, store)
    raw = store.execute(sql).df().sort_values("founded")
    # not the 7 and 5 enterprises of each year: those with social insurance
    assert core.sort_values("founded")["covered"].tolist() == raw["covered"].tolist() == [3, 1]


def test_one_unit_moves_all_distinct_counts_by_at_most_its_limit(schemas) -> None:
    wide = {EU: replace(schemas[EU], contribution_limit=2)}
    base = _enterprises()
    heavy = pd.DataFrame(  # one unit, five rows, each a new district in some group
        {
            "enterprise_id": ["heavy"] * 5,
            "founded": ["2020-01-01", "2021-01-01"] * 2 + ["2020-01-01"],
            "district": ["p", "q", "r", "s", "t"],
            "industry": ["x"] * 5,
            "water_fee": [10.0] * 5,
        }
    )
    sql = f"SELECT founded, COUNT(DISTINCT district) AS d FROM {EU} GROUP BY founded"
    decision, without = _core(sql, wide, _store(enterprise_utilities=base))
    _, with_heavy = _core(sql, wide, _store(enterprise_utilities=pd.concat([base, heavy])))
    assert with_heavy["d"].sum() - without["d"].sum() == 2  # two of its five rows are kept
    assert decision.noise[0].sensitivity == 2.0


def test_distinct_count_of_several_expressions_is_refused_with_a_way_out(schemas) -> None:
    sql = f"SELECT founded, COUNT(DISTINCT district, industry) AS d FROM {EU} GROUP BY founded"
    decision = check_query(sql, schemas, LicenseScope(tuple(schemas), Level.L3), 1.0)
    assert decision.decision == "deny"
    [reason] = decision.reasons
    assert reason.rule == "count_distinct_columns" and reason.column == "district"
    assert "district, industry" in reason.message and "||" in (reason.suggestion or "")
