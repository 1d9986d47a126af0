"""fit()'s training request, checked: one dataset, bounded features, known classes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from catalog.schema import load_schema
from core.errors import PolicyDenied
from core.levels import Level
from policies.training import plan_training

DEMO = Path(__file__).resolve().parents[2] / "catalog" / "demo"
SCHEMAS = {
    "enterprise_utilities": load_schema(DEMO / "enterprise_utilities.yaml"),
    "social_insurance": load_schema(DEMO / "social_security.yaml"),
}
DATASETS = ("enterprise_utilities", "social_insurance")
FROM = " FROM enterprise_utilities"


def plan(sql: str, model: str, features: list[str], label: str | None, level: Level = Level.L3):
    return plan_training(sql, SCHEMAS, DATASETS, level, model, features, label)


@pytest.mark.parametrize(
    ("sql", "model", "features", "label", "rule"),
    [
        ("SELECT capital" + FROM + " e JOIN social_insurance s USING (enterprise_id)",
         "kmeans", ["capital"], None, "training_shape"),
        ("SELECT district, AVG(capital)" + FROM + " GROUP BY district",
         "kmeans", ["capital"], None, "training_shape"),
        ("SELECT capital" + FROM + " WHERE capital IN (SELECT capital" + FROM + ")",
         "kmeans", ["capital"], None, "training_shape"),
        ("SELECT capital" + FROM + " UNION ALL SELECT capital" + FROM,
         "kmeans", ["capital"], None, "training_shape"),
        ("SELECT capital" + FROM + " LIMIT 5", "kmeans", ["capital"], None, "training_shape"),
        ("SELECT phone" + FROM, "kmeans", ["phone"], None, "identifier"),
        ("SELECT enterprise_id" + FROM, "kmeans", ["enterprise_id"], None, "identifier"),
        ("SELECT industry, capital" + FROM, "linear_regression", ["industry"], "capital",
         "unbounded"),
        ("SELECT capital, street" + FROM, "logistic_regression", ["capital"], "street",
         "label_classes"),
        ("SELECT capital" + FROM + " WHERE phone = '1'", "kmeans", ["capital"], None,
         "identifier"),
        ("SELECT nope" + FROM, "kmeans", ["nope"], None, "unknown_column"),
        ("SELECT capital FROM elsewhere", "kmeans", ["capital"], None, "dataset_not_licensed"),
        ("SELECT capital" + FROM, "kmeans", ["capital"], "district", "label"),
        ("SELECT capital" + FROM, "gaussian_nb", ["capital"], None, "label"),
    ],
    ids=["join", "group", "subquery", "union", "limit", "identifier", "privacy-unit",
         "unbounded", "label-without-classes", "identifier-in-where", "unknown",
         "unlicensed", "kmeans-label", "classifier-without-label"],
)  # fmt: skip
def test_refused_with_the_rule(sql, model, features, label, rule) -> None:
    with pytest.raises(PolicyDenied) as denied:
        plan(sql, model, features, label)
    assert [r.rule for r in denied.value.reasons] == [rule]


def test_a_licence_below_l3_cannot_train_on_l3() -> None:
    with pytest.raises(PolicyDenied) as denied:
        plan("SELECT water_fee" + FROM, "kmeans", ["water_fee"], None, Level.L2)
    assert denied.value.reasons[0].rule == "level"


def test_the_plan_keeps_one_row_per_unit_and_the_filter() -> None:
    found = plan(
        "SELECT capital, water_fee, district" + FROM + " WHERE industry = '制造业'",
        "logistic_regression", ["capital", "water_fee"], "district",
    )  # fmt: skip
    assert found.level is Level.L3 and found.dataset == "enterprise_utilities"
    assert found.bounds == {"capital": [0.0, 1e8], "water_fee": [0.0, 1e6]}
    # run it: an enterprise with three rows contributes one, the filter holds
    frame = pd.DataFrame(
        {
            "enterprise_id": ["a", "a", "a", "b", "c"],
            "capital": [1.0, 2.0, 3.0, 4.0, 5.0],
            "water_fee": [1.0] * 5,
            "district": ["海曙区"] * 5,
            "industry": ["制造业"] * 4 + ["教育"],
        }
    )
    con = duckdb.connect()
    con.register("enterprise_utilities", frame)
    rows = con.sql(found.sql).df()
    assert len(rows) == 2 and list(rows.columns) == ["capital", "water_fee", "district"]
