"""The policy engine's decisions, and what its rewritten SQL computes on real DuckDB."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot

from catalog import desensitize
from catalog.schema import DatasetSchema, load_schema
from core.errors import InvalidInput
from core.levels import Level
from gate.differencing import table_populations
from gate.sketches import sketch_of
from jobs.postprocess import post_process
from policies.engine import LicenseScope, PolicyDecision, check_query
from policies.split import RELEASED

DEMO = Path(__file__).parents[2] / "catalog" / "demo"


def two_phase(store: duckdb.DuckDBPyConnection, decision: PolicyDecision) -> pd.DataFrame:
    """What the system computes without gate or noise: the core, companions dropped, then
    post-processing over that table alone."""
    core = store.execute(decision.sql).df()
    released = core[[c for c in core.columns if not c.startswith("__")]]
    return post_process(released, decision.post_sql) if decision.post_sql else released


@pytest.fixture(scope="module")
def schemas() -> dict[str, DatasetSchema]:
    found = [
        load_schema(DEMO / "enterprise_utilities.yaml"),
        load_schema(DEMO / "social_security.yaml"),
    ]
    return {s.dataset: s for s in found}


@pytest.fixture(scope="module")
def scope(schemas: dict[str, DatasetSchema]) -> LicenseScope:
    return LicenseScope(tuple(schemas), Level.L3)


ALLOWED_AS_WRITTEN = [
    "SELECT district, industry, COUNT(*) FROM enterprise_utilities GROUP BY district, industry",
    "SELECT DISTINCT district FROM enterprise_utilities",
    "SELECT district, industry FROM enterprise_utilities WHERE district = '镇海区' LIMIT 5",
    "WITH d AS (SELECT district FROM enterprise_utilities) SELECT COUNT(*) FROM d",
]

REWRITTEN = [
    "SELECT district, AVG(water_fee) FROM enterprise_utilities GROUP BY district",
    "SELECT district, SUM(capital) AS c, COUNT(*) AS n FROM enterprise_utilities GROUP BY district",
    "SELECT COUNT(DISTINCT enterprise_id) FROM enterprise_utilities WHERE year(founded) >= 2015",
    "SELECT e.district, AVG(s.contribution) FROM enterprise_utilities e "
    "JOIN social_insurance s ON e.enterprise_id = s.enterprise_id GROUP BY e.district",
    "SELECT industry, AVG(employees) a FROM enterprise_utilities GROUP BY industry "
    "HAVING COUNT(*) > 10 ORDER BY a DESC LIMIT 3",
]

# (query, a rule that must be among the reasons)
DENIED = [
    ("SELECT enterprise_id, phone, water_fee FROM enterprise_utilities", "row_level_output"),
    ("SELECT legal_person FROM enterprise_utilities", "column_dropped"),
    ("SELECT account_no FROM social_insurance", "l4_denied"),
    ("SELECT * FROM enterprise_utilities", "row_level_output"),
    (
        "SELECT district, MAX(water_fee) FROM enterprise_utilities GROUP BY district",
        "l3_aggregate_not_allowed",
    ),
    ("SELECT water_fee, COUNT(*) FROM enterprise_utilities GROUP BY water_fee", "l3_group_key"),
    (
        "SELECT district, COUNT(*) FROM enterprise_utilities WHERE water_fee > 10 GROUP BY 1",
        "l3_in_filter",
    ),
    (
        "SELECT district, SUM(CASE WHEN water_fee > 1 THEN 1 ELSE 0 END) FROM enterprise_utilities "
        "GROUP BY 1",
        "l3_inside_expression",
    ),
    (
        "SELECT district, COUNT(*) FROM enterprise_utilities WHERE enterprise_id = 'x' GROUP BY 1",
        "identifier_use",
    ),
    ("SELECT * FROM read_csv('/etc/passwd')", "no_table_functions"),
    ("SELECT * FROM '/etc/passwd'", "unknown_dataset"),
    ("SELECT getenv('HOME')", "function_not_allowed"),
    ("SELECT current_setting('threads')", "function_not_allowed"),
    ("SELECT COUNT(*) FROM enterprise_utilities TABLESAMPLE 10%", "no_sampling"),
    ("WITH RECURSIVE r AS (SELECT 1) SELECT * FROM r", "no_recursion"),
    ("SELECT COUNT(*) FROM other_db.enterprise_utilities", "no_qualified_tables"),
    ("SELECT md5(phone) FROM enterprise_utilities", "function_not_allowed"),
]


@pytest.mark.parametrize("sql", ALLOWED_AS_WRITTEN)
def test_public_queries_run_as_written(sql: str, schemas, scope) -> None:
    decision = check_query(sql, schemas, scope, 1.0)
    assert decision.decision == "allow", decision.reasons
    assert "__n" not in decision.sql  # nothing added: the query as written, re-rendered


@pytest.mark.parametrize("sql", REWRITTEN)
def test_aggregates_over_protected_columns_are_rewritten(sql: str, schemas, scope) -> None:
    decision = check_query(sql, schemas, scope, 1.0)
    assert decision.decision == "rewrite", [str(r) for r in decision.reasons]
    assert "__n" in decision.sql


@pytest.mark.parametrize(("sql", "rule"), DENIED, ids=[rule for _, rule in DENIED])
def test_denials_name_the_rule_and_a_fix(sql: str, rule: str, schemas, scope) -> None:
    decision = check_query(sql, schemas, scope, 1.0)
    assert decision.decision == "deny"
    assert rule in {r.rule for r in decision.reasons}
    assert all(r.message and r.suggestion for r in decision.reasons)


def test_denial_names_column_and_level(schemas, scope) -> None:
    decision = check_query("SELECT water_fee FROM enterprise_utilities", schemas, scope, 1.0)
    [reason] = decision.reasons
    assert (reason.column, reason.level) == ("water_fee", "L3")
    assert "AVG(water_fee)" in (reason.suggestion or "")


def test_dataset_outside_license_is_denied(schemas) -> None:
    narrow = LicenseScope(("enterprise_utilities",), Level.L3)
    sql = "SELECT COUNT(*) FROM social_insurance"
    assert {r.rule for r in check_query(sql, schemas, narrow, 1.0).reasons} == {
        "dataset_not_licensed"
    }


def test_level_above_license_is_denied(schemas) -> None:
    l2 = LicenseScope(tuple(schemas), Level.L2)
    sql = "SELECT district, AVG(water_fee) FROM enterprise_utilities GROUP BY district"
    reasons = check_query(sql, schemas, l2, 1.0).reasons
    assert "above_license_level" in {r.rule for r in reasons}


STATEMENTS = {
    "SELECT 1; SELECT 2": "one_statement",
    "SELECT COUNT(*) FROM enterprise_utilities; DROP TABLE x": "one_statement",
    "DROP TABLE enterprise_utilities": "select_only",
    "INSTALL httpfs": "select_only",
    "ATTACH 'x.db' AS y": "select_only",
    "COPY enterprise_utilities TO 'x.csv'": "select_only",
    "PRAGMA version": "select_only",
    "SET threads = 1": "select_only",
    "CREATE TABLE t AS SELECT * FROM enterprise_utilities": "select_only",
}


@pytest.mark.parametrize("sql", STATEMENTS, ids=list(STATEMENTS))
def test_anything_but_one_select_is_denied(sql: str, schemas, scope) -> None:
    decision = check_query(sql, schemas, scope, 1.0)
    assert decision.decision == "deny" and decision.sql is None
    assert [r.rule for r in decision.reasons] == [STATEMENTS[sql]]


@pytest.mark.parametrize("sql", ["SELEC district FROM x", "SELECT FROM WHERE", "", "   ;  "])
def test_text_that_does_not_parse_is_invalid_input(sql: str, schemas, scope) -> None:
    with pytest.raises(InvalidInput):
        check_query(sql, schemas, scope, 1.0)


def test_an_output_reading_l3_noises_every_aggregate_and_splits_epsilon(schemas, scope) -> None:
    """Issue 13: an exact COUNT(*) beside a noisy COUNT(fee) made the noise pointless."""
    sql = (
        "SELECT district, AVG(water_fee) a, SUM(gas_fee) g, AVG(capital) c, COUNT(*) n "
        "FROM enterprise_utilities GROUP BY district"
    )
    decision = check_query(sql, schemas, scope, 1.0)
    assert decision.regime == "dp"
    assert {n.column: n.kind for n in decision.noise} == {
        "a": "avg", "g": "sum", "c": "avg", "n": "count"
    }  # fmt: skip
    assert decision.partition is None, "district is a declared public code list"
    assert decision.epsilon == pytest.approx(1.0)
    # a sum moves by max(|lo|, |hi|); an average's sum is centred on the bounds' middle,
    # so it moves by half their range ([0, 1e6] and [0, 1e8] here)
    assert {n.column: n.sensitivity for n in decision.noise} == {
        "a": 500_000.0, "g": 5_000_000.0, "c": 5e7, "n": 1.0
    }  # fmt: skip


def test_free_keys_in_the_dp_regime_go_through_partition_selection(schemas, scope) -> None:
    sql = "SELECT street, SUM(gas_fee) g FROM enterprise_utilities GROUP BY street"
    decision = check_query(sql, schemas, scope, 1.0)
    assert decision.partition is not None
    assert decision.epsilon == pytest.approx(1.0)
    assert decision.partition.epsilon == pytest.approx(0.5)
    assert decision.delta == pytest.approx(1e-6)
    assert decision.partition.threshold > 20  # 1 + 2·ln(1/(2·1e-6)) ≈ 27


def test_no_l3_read_keeps_exact_values_under_the_disclosure_rules(schemas, scope) -> None:
    sql = "SELECT district, AVG(capital) c, COUNT(*) n FROM enterprise_utilities GROUP BY 1"
    decision = check_query(sql, schemas, scope, 1.0)
    assert decision.regime == "sdc" and not decision.noise and decision.epsilon == 0


def test_rewritten_sql_emits_for_duckdb_and_spark(schemas, scope) -> None:
    sql = (
        "SELECT CAST(founded AS VARCHAR) AS y, year(founded) // 10 AS decade, AVG(water_fee) "
        "FROM enterprise_utilities GROUP BY CAST(founded AS VARCHAR), year(founded) // 10"
    )
    decision = check_query(sql, schemas, scope, 1.0)
    spark = decision.sql_for("spark")
    assert spark is not None and decision.sql is not None
    assert "AS STRING" in spark and " DIV 10" in spark
    assert "AS TEXT" in decision.sql and "// 10" in decision.sql
    for text, dialect in ((spark, "spark"), (decision.sql, "duckdb")):
        assert "ROW_NUMBER() OVER" in sqlglot.parse_one(text, read=dialect).sql(dialect)


@pytest.fixture(scope="module")
def store(demo_files, schemas) -> duckdb.DuckDBPyConnection:
    """Desensitized demo tables in DuckDB, as the sandbox sees them."""
    connection = duckdb.connect()
    for data_file, schema_file in demo_files:
        schema = load_schema(schema_file)
        frame = desensitize(pd.read_csv(data_file, dtype=str), schema, b"k" * 32)
        connection.register(schema.dataset, frame)
    return connection


def test_rewrite_matches_raw_duckdb_on_non_noisy_aggregates(store, schemas, scope) -> None:
    sql = (
        "SELECT district, AVG(capital) AS avg_capital, COUNT(*) AS n FROM enterprise_utilities "
        "WHERE industry = '制造业' GROUP BY district ORDER BY district"
    )
    decision = check_query(sql, schemas, scope, 1.0)
    ours = two_phase(store, decision)
    raw = store.execute(sql).df()
    assert list(ours["district"]) == list(raw["district"])
    assert ours["n"].tolist() == raw["n"].tolist()
    assert ours["avg_capital"].to_numpy() == pytest.approx(raw["avg_capital"].to_numpy())
    core = store.execute(decision.sql).df().sort_values("district")
    assert core["__n"].tolist() == raw["n"].tolist()  # one row per enterprise in this dataset


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district",
        "SELECT district, AVG(water_fee) AS a FROM enterprise_utilities GROUP BY district",
    ],
)
def test_a_row_filter_is_noted_and_never_put_in_the_sql(sql: str, schemas) -> None:
    """The filter is applied to the data a job reads (catalog.filtered), not to the query:
    the SQL names only the dataset, and the decision says the filter applies."""
    filters = {"enterprise_utilities": "district = '镇海区'"}
    decision = check_query(sql, schemas, LicenseScope(tuple(schemas), Level.L3, filters), 1.0)
    assert decision.decision != "deny", [str(r) for r in decision.reasons]
    assert "license row filter applied to the data" in decision.notes
    assert "镇海区" not in (decision.sql or "")
    unfiltered = check_query(sql, schemas, LicenseScope(tuple(schemas), Level.L3), 1.0)
    assert decision.sql == unfiltered.sql and decision.decision == unfiltered.decision
    assert "license row filter applied to the data" not in unfiltered.notes


def test_only_the_filters_of_datasets_the_query_reads_are_noted(schemas) -> None:
    filters = {"social_insurance": "insured_staff > 0"}
    sql = "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district"
    decision = check_query(sql, schemas, LicenseScope(tuple(schemas), Level.L3, filters), 1.0)
    assert decision.decision == "allow" and decision.notes == []


def test_clamping_bounds_each_contribution(schemas, scope) -> None:
    connection = duckdb.connect()
    rows = pd.DataFrame(
        {
            "enterprise_id": [f"e{i}" for i in range(12)],
            "district": ["a"] * 12,
            "water_fee": [5e9] + [100.0] * 11,
        }
    )
    connection.register("enterprise_utilities", rows)
    narrow = {"enterprise_utilities": schemas["enterprise_utilities"]}
    sql = "SELECT district, SUM(water_fee) AS s FROM enterprise_utilities GROUP BY district"
    decision = check_query(sql, narrow, LicenseScope(("enterprise_utilities",), Level.L3), 1.0)
    result = connection.execute(decision.sql).df()
    assert result["s"][0] == pytest.approx(1_000_000 + 1_100)
    assert result["__top1__s"][0] == pytest.approx(1_000_000)
    assert result["__top2__s"][0] == pytest.approx(100)


def test_population_companions_sketch_each_groups_units(store, schemas, scope) -> None:
    """`__lowest` and `__sketch` are the group's population for the differencing check:
    the sketch of one digest per distinct unit (the first 8 bytes of MD5 over the unit's
    text, as a signed big-endian BIGINT, here hashed in SQL for a file without stored
    digests), in the core only (post-processing never sees it), spelled so that Spark
    computes the same figures."""
    sql = (
        "SELECT d, n FROM (SELECT district AS d, COUNT(*) AS n FROM enterprise_utilities "
        "WHERE capital > 1000000 GROUP BY district) t ORDER BY d"
    )
    decision = check_query(sql, schemas, scope, 1.0)
    ours = store.execute(decision.sql).df().sort_values("d").reset_index(drop=True)
    units = store.execute(
        "SELECT district, LIST(enterprise_id) AS ids FROM enterprise_utilities "
        "WHERE capital > 1000000 GROUP BY district ORDER BY district"
    ).df()
    read = table_populations(ours, "result.csv", np.ones(len(ours), dtype=bool))
    assert read is not None and len(read.sketches) == len(units)
    for (_, row), ids, sketch in zip(ours.iterrows(), units["ids"], read.sketches, strict=True):
        digests = [
            int.from_bytes(hashlib.md5(str(i).encode()).digest()[:8], "big", signed=True)
            for i in set(ids)
        ]
        assert sketch.to_bytes() == sketch_of(np.array(digests, dtype=np.int64)).to_bytes()
        assert row["__n"] == len(digests) == sketch.units
    spark = decision.sql_for("spark")
    assert spark is not None and "MD5(CAST(__unit AS STRING))" in spark
    assert "SLICE(ARRAY_SORT(COLLECT_LIST(" in spark  # the lowest digests, as MIN(x, 64)
    assert decision.post_sql is not None
    assert "__lowest" not in decision.post_sql and "__sketch" not in decision.post_sql


LAYERED = {
    "cte feeding an aggregate": (
        "WITH base AS (SELECT district, capital FROM enterprise_utilities "
        "WHERE industry = '制造业') SELECT district, AVG(capital) AS a FROM base "
        "GROUP BY district ORDER BY district"
    ),
    "rank over aggregated counts": (
        "SELECT district, n, RANK() OVER (ORDER BY n DESC) AS r FROM (SELECT district, "
        "COUNT(*) AS n FROM enterprise_utilities WHERE capital > 0 GROUP BY district) t "
        "ORDER BY district"
    ),
    "filter and limit over a cte aggregate": (
        "WITH t AS (SELECT industry, AVG(employees) AS e, COUNT(*) AS n FROM enterprise_utilities "
        "GROUP BY industry) SELECT industry, e FROM t WHERE n >= 20 ORDER BY industry LIMIT 5"
    ),
    "case buckets": (
        "SELECT CASE WHEN employees < 50 THEN 'small' WHEN employees < 300 THEN 'medium' "
        "ELSE 'large' END AS size, COUNT(*) AS n FROM enterprise_utilities GROUP BY 1 ORDER BY 1"
    ),
}


@pytest.mark.parametrize("case", LAYERED, ids=list(LAYERED))
def test_layered_queries_match_raw_duckdb(case: str, store, schemas, scope) -> None:
    sql = LAYERED[case]
    decision = check_query(sql, schemas, scope, 1.0)
    assert decision.decision == "rewrite", [str(r) for r in decision.reasons]
    ours = two_phase(store, decision)
    raw = store.execute(sql).df()
    assert list(raw.columns) == list(ours.columns)
    assert "__n" in store.execute(decision.sql).df().columns
    pd.testing.assert_frame_equal(ours, raw, check_dtype=False)


def test_noisy_values_pass_through_layers_with_their_companions(schemas, scope) -> None:
    sql = (
        "SELECT d, f FROM (SELECT district AS d, AVG(water_fee) AS f FROM enterprise_utilities "
        "GROUP BY district) t ORDER BY d"
    )
    decision = check_query(sql, schemas, scope, 1.0)
    assert decision.decision == "rewrite"
    assert [(n.column, n.kind) for n in decision.noise] == [("f", "avg")]
    for companion in ("__sum__f", "__cnt__f", "__top1__f", "__n"):
        assert companion in decision.sql


# Once refused because a layer would act on the exact value; now the layer is
# post-processing and only ever sees the released (noisy) table.
POST_PROCESSING = {
    "filter on a noisy value": (
        "SELECT * FROM (SELECT district, AVG(water_fee) AS f FROM enterprise_utilities "
        "GROUP BY district) t WHERE f > 1000"
    ),
    "rank by a noisy value": (
        "WITH t AS (SELECT district, SUM(gas_fee) AS g FROM enterprise_utilities GROUP BY 1) "
        "SELECT district, RANK() OVER (ORDER BY g) AS r FROM t"
    ),
    "arithmetic on a noisy value": (
        "SELECT district, f * 2 AS f2 FROM (SELECT district, AVG(water_fee) AS f "
        "FROM enterprise_utilities GROUP BY district) t"
    ),
    "named window over a noisy sum": (
        "WITH t AS (SELECT district, SUM(water_fee) AS s FROM enterprise_utilities GROUP BY 1) "
        "SELECT district, COUNT(*) OVER w AS c FROM t WINDOW w AS (PARTITION BY FLOOR(s))"
    ),
    "order by all with the noisy value first": (
        "SELECT SUM(water_fee) AS s, district FROM enterprise_utilities GROUP BY district "
        "ORDER BY ALL"
    ),
    "having on a hidden noisy aggregate": (
        "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district "
        "HAVING SUM(water_fee) > 100"
    ),
}


@pytest.mark.parametrize("case", POST_PROCESSING, ids=list(POST_PROCESSING))
def test_what_acts_on_noisy_values_runs_after_the_release(case: str, schemas, scope) -> None:
    """The core has no clause above its GROUP BY; everything else reads __released only."""
    decision = check_query(POST_PROCESSING[case], schemas, scope, 1.0)
    assert decision.decision == "rewrite", [str(r) for r in decision.reasons]
    assert decision.noise, "an L3 aggregate is noised"
    assert decision.post_tree is not None
    tables = {t.name for t in decision.post_tree.find_all(sqlglot.exp.Table)}
    ctes = {c.alias_or_name for c in decision.post_tree.find_all(sqlglot.exp.CTE)}
    assert tables - ctes == {RELEASED}
    assert decision.tree is not None
    outermost = decision.tree
    for clause in ("having", "order", "limit", "qualify", "windows"):
        assert not outermost.args.get(clause), clause
    assert not list(outermost.find_all(sqlglot.exp.Window)) or all(
        w.this.key == "rownumber" for w in outermost.find_all(sqlglot.exp.Window)
    ), "the only window in the core is the contribution bound's ROW_NUMBER"


LAYER_ATTACKS = {
    "scalar subquery in an outer filter": (
        "SELECT * FROM (SELECT district, COUNT(*) AS n FROM enterprise_utilities WHERE capital > 0 "
        "GROUP BY district) t WHERE n > (SELECT COUNT(*) FROM enterprise_utilities "
        "WHERE water_fee > 5000)",
        "shape_not_supported",
    ),
    "aggregate of an aggregate": (
        "SELECT AVG(f) FROM (SELECT district, AVG(water_fee) AS f FROM enterprise_utilities "
        "GROUP BY district) t",
        "shape_not_supported",
    ),
    "L3 filter hidden in a cte": (
        "WITH rich AS (SELECT district FROM enterprise_utilities WHERE water_fee > 900000) "
        "SELECT district, COUNT(*) FROM rich GROUP BY district",
        "l3_in_filter",
    ),
    "join on an expression of an identifier": (
        "SELECT e.district, COUNT(*) FROM enterprise_utilities e JOIN social_insurance s "
        "ON substr(e.enterprise_id, 1, 4) = substr(s.enterprise_id, 1, 4) GROUP BY 1",
        "identifier_use",
    ),
}


@pytest.mark.parametrize("case", LAYER_ATTACKS, ids=list(LAYER_ATTACKS))
def test_layer_attacks_are_denied(case: str, schemas, scope) -> None:
    sql, rule = LAYER_ATTACKS[case]
    decision = check_query(sql, schemas, scope, 1.0)
    assert decision.decision == "deny"
    assert rule in {r.rule for r in decision.reasons}, [str(r) for r in decision.reasons]


def test_each_unit_contributes_at_most_its_limit_across_groups(schemas) -> None:
    connection = duckdb.connect()
    spread = [("heavy", d) for d in "abcde"]  # one unit with a row in each of five groups
    spread += [(f"e{i}", "abcde"[i % 5]) for i in range(50)]
    rows = pd.DataFrame(spread, columns=["enterprise_id", "district"])
    rows["water_fee"] = 100.0
    connection.register("enterprise_utilities", rows)
    narrow = {"enterprise_utilities": schemas["enterprise_utilities"]}  # contribution_limit 1
    sql = "SELECT district, SUM(water_fee) AS s, COUNT(*) AS n FROM enterprise_utilities GROUP BY 1"
    decision = check_query(sql, narrow, LicenseScope(("enterprise_utilities",), Level.L3), 1.0)
    result = connection.execute(decision.sql).df()
    assert result["n"].sum() == 51  # 50 ordinary units and the heavy one, once
    assert result["s"].sum() == pytest.approx(5_100)
    assert result["__n"].sum() == 51


def test_the_rows_a_unit_keeps_do_not_depend_on_the_order_they_are_read(schemas) -> None:
    """Over its limit, a unit keeps the rows first by the values the core reads, so the
    same query over the same rows releases the same figures however they are stored,
    and an engine that evaluates the per-unit stage twice (Spark inlines the CTE that
    both the figures and the population sketches read) puts the unit in the same group
    both times."""
    spread = [
        ("heavy", d, fee) for d, fee in zip("edcba", [500.0, 400, 300, 200, 100], strict=True)
    ]
    spread += [(f"e{i}", "abcde"[i % 5], 10.0) for i in range(50)]
    rows = pd.DataFrame(spread, columns=["enterprise_id", "district", "water_fee"])
    narrow = {"enterprise_utilities": schemas["enterprise_utilities"]}  # contribution_limit 1
    sql = "SELECT district, SUM(water_fee) AS s, COUNT(*) AS n FROM enterprise_utilities GROUP BY 1"
    decision = check_query(sql, narrow, LicenseScope(("enterprise_utilities",), Level.L3), 1.0)
    assert decision.sql is not None
    released = set()
    for seed in range(8):
        connection = duckdb.connect()
        connection.execute("SET threads = 4")
        shuffled = rows.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        connection.register("enterprise_utilities", shuffled)
        result = connection.execute(decision.sql).df().set_index("district").sort_index()
        released.add(tuple(result["s"].tolist()))
    # the heavy unit's row in 'a' (first by district) is the one kept, every time
    assert released == {(200.0, 100.0, 100.0, 100.0, 100.0)}


def test_lineage_names_sources_and_how_they_are_used(schemas, scope) -> None:
    sql = (
        "SELECT e.district, AVG(s.contribution) AS avg_contribution FROM enterprise_utilities e "
        "JOIN social_insurance s ON e.enterprise_id = s.enterprise_id WHERE e.capital > 0 "
        "GROUP BY e.district"
    )
    found = check_query(sql, schemas, scope, 1.0).lineage
    assert found["outputs"]["avg_contribution"] == ["social_insurance.contribution"]
    assert found["outputs"]["district"] == ["enterprise_utilities.district"]
    how = {(u["column"], u["how"]) for u in found["uses"]}
    assert ("social_insurance.contribution", "aggregated by avg") in how
    assert ("enterprise_utilities.capital", "filter") in how
    assert ("enterprise_utilities.enterprise_id", "join key") in how


def test_a_cte_named_after_a_dataset_is_refused(schemas, scope) -> None:
    """Issue 12: a CTE named after the dataset once made the SQL row filter skip every
    scan. Filters now act on the data, but a name meaning two tables is still refused."""
    shadow = (
        "WITH enterprise_utilities AS (SELECT * FROM enterprise_utilities) "
        "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district"
    )
    decision = check_query(shadow, schemas, scope, 1.0)
    assert decision.decision == "deny"
    assert "cte_shadows_dataset" in {r.rule for r in decision.reasons}


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT district, SUM(employees) AS __n FROM enterprise_utilities GROUP BY district",
        "WITH __released AS (SELECT district FROM enterprise_utilities) SELECT * FROM __released",
        "SELECT __t.district FROM enterprise_utilities AS __t",
    ],
)
def test_names_starting_with_two_underscores_are_reserved(sql: str, schemas, scope) -> None:
    """A companion-named output once duplicated `__n` and left the job running forever."""
    decision = check_query(sql, schemas, scope, 1.0)
    assert decision.decision == "deny"
    assert "reserved_name" in {r.rule for r in decision.reasons}
