"""Types as stored: a query the policy check accepts never fails in DuckDB for a type.

Table-driven over expressions × desensitization methods on a real ingested store:
each accepted query's rewritten SQL is executed; each refused one must name the
column and its stored type. A refusal whatever the data (`type_mismatch`) must be
one DuckDB makes too, so the check cannot quietly grow stricter than the engine;
converting text (`unsafe_conversion`) is refused because it fails on some values.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml
from sqlglot import exp

from catalog.row_filter import parse_row_filter
from catalog.schema import DatasetSchema, load_schema
from catalog.storage import DUCKDB_TYPES
from core.errors import InvalidInput
from core.levels import Level
from policies.engine import LicenseScope, PolicyDecision, check_query
from tests.method_store import (
    DATASET,
    METHODS,
    connect,
    ingested,
    method_schema,
    write_method_file,
)

TYPE_ERRORS = (duckdb.BinderException, duckdb.ConversionException)
COLUMNS = [*METHODS, "district"]

# {c} is one column of the method dataset; every column there is L1, so only types refuse.
EXPRESSIONS = [
    "year({c})", "month({c})", "day({c})", "quarter({c})", "dayofweek({c})",
    "date_part('year', {c})", "extract(month FROM {c})", "date_trunc('month', {c})",
    "strftime({c}, '%Y-%m')", "date_diff('day', {c}, DATE '2030-01-01')",
    "upper({c})", "lower({c})", "length({c})", "substr({c}, 1, 3)", "left({c}, 2)",
    "trim({c})", "replace({c}, '1', '2')", "strpos({c}, '3')", "{c} || '-'",
    "concat({c}, 'x')", "{c} + 1", "{c} - 1", "{c} * 2", "{c} / 2", "{c} // 10", "{c} % 7",
    "-{c}", "{c} - {c}", "{c} + INTERVAL 1 DAY", "abs({c})", "round({c}, 1)", "floor({c})",
    "sqrt({c})", "ln({c} + 1)", "sign({c})", "CAST({c} AS VARCHAR)", "CAST({c} AS BIGINT)",
    "CAST({c} AS DOUBLE)", "CAST({c} AS DATE)", "TRY_CAST({c} AS BIGINT)",
    "COALESCE({c}, 0)", "COALESCE({c}, DATE '2000-01-01')", "COALESCE({c}, 'none')",
    "GREATEST({c}, 1)", "NULLIF({c}, 0)", "CASE WHEN {c} IS NULL THEN 0 ELSE {c} END",
    "{c} >= 2010", "{c} = 42", "{c} = 'x'", "{c} >= DATE '2015-01-01'",
    "{c} >= '2015-01-01'", "{c} IN (1, 2)", "{c} BETWEEN 1 AND 10", "{c} LIKE '1%'",
    "{c} IS NOT NULL", "make_date({c}, 1, 1)", "{c} + 1.5", "{c} = qty", "{c} = day",
    "{c} + qty", "{c} - day", "{c} IN (SELECT qty FROM methods)", "CASE {c} WHEN 1 THEN 'a' END",
]  # fmt: skip
SHAPES = [
    "SELECT {e} AS v FROM methods",
    "SELECT COUNT(*) AS n FROM methods WHERE {e}",
]
AGGREGATES = ["SUM({c})", "AVG({c})", "MIN({c})", "MAX({c})", "STDDEV({c})", "COUNT({c})"]
CONDITIONS = ["{c}", "NOT {c}", "{c} AND district = '海曙区'"]


def _queries() -> list[str]:
    found = []
    for column in COLUMNS:
        for expression in EXPRESSIONS:
            for shape in SHAPES:
                found.append(shape.format(e=expression.format(c=column)))
        for aggregate in AGGREGATES:
            found.append(f"SELECT {aggregate.format(c=column)} AS v FROM methods")
        for condition in CONDITIONS:
            found.append(SHAPES[1].format(e=condition.format(c=column)))
        for other in ("qty", "day", "name"):
            found.append(f"SELECT {column} FROM methods UNION ALL SELECT {other} FROM methods")
    return found


QUERIES = _queries()

# The methods the issue names, with the outcome each must have: None runs, else
# (column, stored type) the refusal must name.
NAMED: dict[str, tuple[str, tuple[str, str] | None]] = {
    "year of a year-generalized date": ("SELECT year(born) AS y, COUNT(*) AS n FROM methods "
                                        "GROUP BY 1", None),
    "month of a month-generalized date": ("SELECT month(visit) AS m FROM methods", None),
    "month of a generalized timestamp": ("SELECT month(seen) AS m FROM methods", None),
    "substr of a masked phone": ("SELECT substr(phone, 1, 3) AS p FROM methods", None),
    "upper of a numeric bucket": ("SELECT upper(age) AS a FROM methods", ("age", "BIGINT")),
    "upper of a double bucket": ("SELECT upper(income) FROM methods", ("income", "DOUBLE")),
    "arithmetic on a pseudonym": ("SELECT code + 1 AS c FROM methods", ("code", "VARCHAR")),
    "arithmetic on a pseudonymized number": ("SELECT serial * 2 FROM methods",
                                              ("serial", "VARCHAR")),
    "year of a pseudonym": ("SELECT year(code) FROM methods", ("code", "VARCHAR")),
    "a year compared with a number": ("SELECT COUNT(*) FROM methods WHERE born >= 2010",
                                      ("born", "DATE")),
    "a year compared with a date": ("SELECT COUNT(*) FROM methods WHERE born >= "
                                    "DATE '2010-01-01'", None),
    "a year's year compared with a number": ("SELECT COUNT(*) FROM methods WHERE "
                                             "year(born) >= 2010", None),
    "noise in a date function": ("SELECT year(score) FROM methods", ("score", "DOUBLE")),
    "a prefix of a number as text": ("SELECT area || '0' AS a, upper(area) AS u FROM methods",
                                     None),
    "arithmetic on a number prefix": ("SELECT area + 1 FROM methods", ("area", "VARCHAR")),
    "nested mistake said once": ("SELECT upper(year(phone)) FROM methods",
                                 ("phone", "VARCHAR")),
    "through a cte": ("WITH t AS (SELECT code AS k FROM methods) SELECT k * 2 FROM t",
                      ("code", "VARCHAR")),
    "date minus date is a number": ("SELECT (born - visit) * 2 AS d FROM methods", None),
    "union of a date and a number": ("SELECT born FROM methods UNION ALL SELECT age "
                                     "FROM methods", ("born", "DATE")),
    # protected columns go through the rewrite; the demo's founded is generalize:year
    "rewritten: year of founded": ("SELECT year(founded) AS y, COUNT(*) AS n FROM "
                                   "enterprise_utilities GROUP BY 1", None),
    "rewritten: filter on founded's year": ("SELECT district, AVG(employees) AS e FROM "
                                            "enterprise_utilities WHERE year(founded) >= 2015 "
                                            "GROUP BY district", None),
    "rewritten: founded compared with a number": ("SELECT district, COUNT(*) AS n FROM "
                                                  "enterprise_utilities WHERE founded >= 2015 "
                                                  "GROUP BY district", ("founded", "DATE")),
    "rewritten: founded as a key": ("SELECT founded, SUM(capital) AS c FROM "
                                    "enterprise_utilities GROUP BY founded", None),
    "rewritten: noisy sum by month": ("SELECT date_trunc('month', founded) AS m, "
                                      "SUM(water_fee) AS w FROM enterprise_utilities "
                                      "GROUP BY 1", None),
    "rewritten: sum of text": ("SELECT district, SUM(street) AS s FROM enterprise_utilities "
                               "GROUP BY district", ("street", "VARCHAR")),
    "rewritten: join filtered on a year": ("SELECT e.district, AVG(s.contribution) AS c FROM "
                                           "enterprise_utilities e JOIN social_insurance s "
                                           "ON e.enterprise_id = s.enterprise_id WHERE "
                                           "year(e.founded) > 2010 GROUP BY e.district", None),
}  # fmt: skip


CORPUS = Path(__file__).parent / "corpus"
CORPORA = [
    case
    for kind in ("legit", "attacks")
    for case in yaml.safe_load((CORPUS / f"{kind}.yaml").read_text("utf-8"))[kind]
]


@pytest.fixture(scope="module")
def schemas(demo_files: list[tuple[Path, Path]]) -> dict[str, DatasetSchema]:
    found = [method_schema(), *(load_schema(schema) for _, schema in demo_files)]
    return {s.dataset: s for s in found}


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory,
    demo_files: list[tuple[Path, Path]],
    schemas: dict[str, DatasetSchema],
) -> Iterator[duckdb.DuckDBPyConnection]:
    folder = tmp_path_factory.mktemp("types")
    sources = [write_method_file(folder)]
    sources += [(data, schemas[load_schema(schema).dataset]) for data, schema in demo_files]
    with ingested(folder, sources) as parquet:
        yield connect(parquet)


def _check(sql: str, schemas: dict[str, DatasetSchema]) -> PolicyDecision:
    return check_query(sql, schemas, LicenseScope(tuple(schemas), Level.L3), 1.0)


def _runs(store: duckdb.DuckDBPyConnection, sql: str) -> bool:
    try:
        store.execute(sql).fetchall()
    except TYPE_ERRORS:
        return False
    return True


@pytest.mark.parametrize("sql", QUERIES)
def test_accepted_runs_and_refused_names_the_stored_type(
    sql: str, schemas: dict[str, DatasetSchema], store: duckdb.DuckDBPyConnection
) -> None:
    decision = _check(sql, schemas)
    if decision.decision != "deny":
        assert decision.sql is not None
        store.execute(decision.sql).fetchall()  # a BinderException here fails the test
        return
    rules = {r.rule for r in decision.reasons}
    assert rules <= {"type_mismatch", "unsafe_conversion"}, decision.reasons
    for reason in decision.reasons:
        assert reason.column in COLUMNS and reason.suggestion
        stored = DUCKDB_TYPES[schemas[DATASET].column(reason.column).stored_type]  # type: ignore[union-attr]
        assert f"{reason.column} is stored as {stored}" in reason.message
    if rules == {"type_mismatch"}:  # refused whatever the data, so DuckDB must refuse it too
        assert not _runs(store, sql), f"refused, but DuckDB runs it: {decision.reasons}"


@pytest.mark.parametrize("case", NAMED, ids=list(NAMED))
def test_named_cases(
    case: str, schemas: dict[str, DatasetSchema], store: duckdb.DuckDBPyConnection
) -> None:
    sql, refusal = NAMED[case]
    decision = _check(sql, schemas)
    if refusal is None:
        assert decision.decision != "deny", [str(r) for r in decision.reasons]
        assert decision.sql is not None
        store.execute(decision.sql).fetchall()
        return
    column, stored = refusal
    assert decision.decision == "deny"
    [reason] = [r for r in decision.reasons if r.rule == "type_mismatch"]
    assert reason.column == column
    assert f"stored as {stored}" in reason.message and reason.suggestion
    assert not _runs(store, sql)


def test_converting_text_is_refused_with_try_cast_offered(
    schemas: dict[str, DatasetSchema], store: duckdb.DuckDBPyConnection
) -> None:
    """CAST(text) runs on '315' and fails on '138****5678': refused either way."""
    for column in ("zip", "phone"):
        [reason] = _check(f"SELECT CAST({column} AS BIGINT) FROM methods", schemas).reasons
        assert reason.rule == "unsafe_conversion" and reason.column == column
        assert f"TRY_CAST({column} AS BIGINT)" in (reason.suggestion or "")
    assert _runs(store, "SELECT CAST(zip AS BIGINT) FROM methods")
    with pytest.raises(duckdb.ConversionException):
        store.execute("SELECT CAST(phone AS BIGINT) FROM methods").fetchall()


def test_a_generalized_year_says_how_to_compare_it(schemas: dict[str, DatasetSchema]) -> None:
    sql = "SELECT COUNT(*) FROM methods WHERE born >= 2010"
    [reason] = _check(sql, schemas).reasons
    assert "1 January" in reason.message
    assert "year(born)" in (reason.suggestion or "")


@pytest.mark.parametrize("case", CORPORA, ids=[c["id"] for c in CORPORA])
def test_corpus_queries_that_pass_bind_in_duckdb(
    case: dict[str, str], schemas: dict[str, DatasetSchema], store: duckdb.DuckDBPyConnection
) -> None:
    """The corpora's accepted queries, rewritten, on the real store: no sandbox needed."""
    try:
        decision = _check(case["sql"], schemas)
    except InvalidInput:
        return
    if decision.decision != "deny":
        assert decision.sql is not None
        store.execute(decision.sql).fetchall()


@pytest.mark.parametrize(
    ("row_filter", "refused"),
    [("founded >= 2015", True), ("year(founded) >= 2015", False), ("district = '海曙区'", False)],
)
def test_a_license_row_filter_must_fit_the_stored_types(
    row_filter: str,
    refused: bool,
    schemas: dict[str, DatasetSchema],
    store: duckdb.DuckDBPyConnection,
) -> None:
    """The filter is applied to the data before every job: one that does not fit the
    stored types would fail every query on its dataset."""
    sql = "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district"
    filters = {"enterprise_utilities": row_filter}
    scope = LicenseScope(("enterprise_utilities",), Level.L3, filters)
    decision = check_query(sql, schemas, scope, 1.0)
    if refused:
        [reason] = decision.reasons
        assert reason.rule == "row_filter_type" and reason.column == "founded"
        assert "enterprise_utilities" in reason.message and "stored as DATE" in reason.message
        assert "data authority" in (reason.suggestion or "")
        return
    assert decision.decision == "allow" and decision.sql is not None
    assert "license row filter applied to the data" in decision.notes
    # as catalog.filtered applies it to the store
    predicate = parse_row_filter(row_filter, schemas["enterprise_utilities"])
    probe = exp.select("COUNT(*)").from_("enterprise_utilities").where(predicate)
    assert store.execute(probe.sql("duckdb")).fetchall()
