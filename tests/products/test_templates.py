"""Template parameters take only declared public values, bound into the tree."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from catalog import load_schema
from core.errors import InvalidInput
from products.templates import Parameter, bind, check_template
from service.web.i18n import translator
from service.web.wording import error_words

DEMO = Path(__file__).parents[2] / "catalog" / "demo"
SCHEMAS = {"enterprise_utilities": load_schema(DEMO / "enterprise_utilities.yaml")}
SQL = (
    "SELECT industry, SUM(employees) AS e FROM enterprise_utilities "
    "WHERE district = :district AND employees >= :min_staff GROUP BY industry"
)
PARAMETERS = [
    Parameter("district", "category", "enterprise_utilities", "district"),
    Parameter("min_staff", "int", min=0, max=5000),
]


def test_values_become_literals_in_the_tree() -> None:
    check_template(SQL, PARAMETERS, SCHEMAS)
    bound = bind(SQL, PARAMETERS, {"district": "镇海区", "min_staff": 10}, SCHEMAS)
    tree = sqlglot.parse_one(bound, read="duckdb")
    assert not list(tree.find_all(exp.Placeholder))
    literals = {lit.this for lit in tree.find_all(exp.Literal)}
    assert {"镇海区", "10"} <= literals


@pytest.mark.parametrize(
    "values",
    [
        {"district": "镇海区' OR '1'='1", "min_staff": 1},  # not a declared category
        {"district": "镇海区", "min_staff": "1 OR 1=1"},
        {"district": "镇海区", "min_staff": 5001},
        {"district": "镇海区", "min_staff": True},
        {"district": "镇海区"},
        {"district": "镇海区", "min_staff": 1, "extra": 2},
    ],
    ids=["injection", "text int", "above bound", "bool", "missing", "unknown"],
)
def test_undeclared_values_are_refused(values: dict) -> None:
    with pytest.raises(InvalidInput):
        bind(SQL, PARAMETERS, values, SCHEMAS)


@pytest.mark.parametrize(
    ("sql", "parameters"),
    [
        (SQL, PARAMETERS[:1]),  # a placeholder not declared
        (SQL.replace(":district", "'x'"), PARAMETERS),  # a parameter not used
        (
            "SELECT COUNT(*) AS n FROM enterprise_utilities WHERE street = :s",
            [Parameter("s", "category", "enterprise_utilities", "street")],  # L2, no categories
        ),
        (SQL, [PARAMETERS[0], Parameter("min_staff", "int", min=5, max=1)]),
    ],
    ids=["undeclared", "unused", "not public", "bad bounds"],
)
def test_templates_that_break_the_rules_are_refused(sql: str, parameters: list) -> None:
    with pytest.raises(InvalidInput):
        check_template(sql, parameters, SCHEMAS)


def test_a_refused_binding_reads_in_chinese_with_its_parameters_named() -> None:
    """The console words the refusal from its code: no English sentence is left."""
    zh = translator("zh-CN")
    with pytest.raises(InvalidInput) as out_of_range:
        bind(SQL, PARAMETERS, {"district": "镇海区", "min_staff": 9000}, SCHEMAS)
    assert out_of_range.value.message == "min_staff must be between 0 and 5000"
    assert (
        error_words(out_of_range.value, zh).message == "输入有误：min_staff 必须在 0 至 5000 之间"
    )
    with pytest.raises(InvalidInput) as mismatched:
        bind(SQL, PARAMETERS, {"district": "镇海区", "staff": 1}, SCHEMAS)
    assert error_words(mismatched.value, zh).message == (
        "输入有误：未知参数：['staff']；缺少参数：['min_staff']"
    )
