"""The private core's shapes: bounded per unit, or rows as units when ingest proved it.

Each shape must release the same core table on data where each unit has one row; the
top contributions come from a top-n aggregate, not window ranking; a figure that
several outputs need is computed once; and no query that can repeat a unit's row
(a join, a table function, a union) is ever run without per-unit bounding: a planted
unit's influence on the released value stays within the sensitivity that was charged.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from catalog.schema import DatasetSchema, load_schema
from catalog.unit_digests import with_unit_digests
from core.errors import InvalidInput
from core.levels import Level
from core.population_sketch import ROUND_KEYS
from gate.differencing import table_populations
from gate.sketches import sketch_of
from policies.core_sql import for_engine
from policies.engine import LicenseScope, PolicyDecision, check_query

DEMO = Path(__file__).parents[2] / "catalog" / "demo"
EU, SI = "enterprise_utilities", "social_insurance"
FEE_HIGH = 1_000_000.0  # water_fee's upper bound in the demo schema


@pytest.fixture(scope="module")
def bounded() -> dict[str, DatasetSchema]:
    """The schemas as a dataset without the proven fact has them."""
    found = [load_schema(DEMO / f"{EU}.yaml"), load_schema(DEMO / "social_security.yaml")]
    return {s.dataset: s for s in found}


@pytest.fixture(scope="module")
def proven(bounded) -> dict[str, DatasetSchema]:
    """The same schemas with one row per unit proven at ingest."""
    return {name: replace(s, one_row_per_unit=True) for name, s in bounded.items()}


def _enterprises(count: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    fees = rng.gamma(1.2, 20_000, count)
    fees[::37] = np.nan  # some missing values, which COUNT(x) and the sums skip
    return pd.DataFrame(
        {
            "enterprise_id": [f"{i:08x}" for i in range(count)],
            "district": rng.choice(["海曙区", "江北区", "镇海区", "北仑区"], count),
            "industry": rng.choice(["制造业", "批发和零售业", "建筑业"], count),
            "employees": rng.integers(0, 6000, count),  # some above the bound of 5000
            "water_fee": fees,
            "capital": rng.uniform(0, 2e8, count),
        }
    )


def _insured(enterprises: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "enterprise_id": enterprises["enterprise_id"],
            "insured_staff": 10,
            "contribution": 1000.0,
        }
    )


def _store(**tables: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    for name, frame in tables.items():
        connection.register(name, frame)
    return connection


def _decide(sql: str, schemas: dict[str, DatasetSchema]) -> PolicyDecision:
    decision = check_query(sql, schemas, LicenseScope(tuple(schemas), Level.L3), 1.0)
    assert decision.decision == "rewrite", [str(r) for r in decision.reasons]
    return decision


def _core(store: duckdb.DuckDBPyConnection, decision: PolicyDecision, keys: list[str]):
    assert decision.sql is not None
    frame = store.execute(decision.sql).df()
    return frame.sort_values(keys).reset_index(drop=True) if keys else frame


POPULATION = ("__lowest", "__sketch")


def _populations(frame: pd.DataFrame) -> list[bytes]:
    """Each row's population sketch as the gate reads it (its cells come in any order)."""
    found = table_populations(frame, "result.csv", np.ones(len(frame), dtype=bool))
    assert found is not None, "every row's population reads as a sketch"
    return [sketch.to_bytes() for sketch in found.sketches]


def _assert_same_core(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    """Two cores' outputs agree column by column: the same populations, floats within
    rounding, every other figure exactly."""
    assert list(ours.columns) == list(theirs.columns)
    for column in ours.columns:
        if column in POPULATION:
            assert _populations(ours) == _populations(theirs)
        elif ours[column].dtype.kind == "f":
            assert ours[column].to_numpy() == pytest.approx(theirs[column].to_numpy()), column
        else:
            assert ours[column].tolist() == theirs[column].tolist(), column


SAME_RELEASE = {
    "count sum avg": (
        "SELECT district, COUNT(*) AS n, SUM(water_fee) AS s, AVG(water_fee) AS a "
        f"FROM {EU} GROUP BY district",
        ["district"],
    ),
    "counts of a column and of units": (
        "SELECT industry, COUNT(water_fee) AS c, COUNT(DISTINCT enterprise_id) AS u, "
        f"COUNT(DISTINCT district) AS d FROM {EU} GROUP BY industry",
        ["industry"],
    ),
    "two keys, a filter, a clamped integer measure": (
        "SELECT district, industry, AVG(employees) AS e, SUM(capital) AS k FROM "
        f"{EU} WHERE capital > 1000000 GROUP BY district, industry",
        ["district", "industry"],
    ),
    "no group key": (f"SELECT COUNT(*) AS n, AVG(water_fee) AS a FROM {EU}", []),
}


@pytest.mark.parametrize("case", SAME_RELEASE, ids=list(SAME_RELEASE))
def test_rows_as_units_release_the_same_core_as_per_unit_bounding(case, bounded, proven) -> None:
    """On one-row-per-unit data, skipping the bound changes no figure and no companion."""
    sql, keys = SAME_RELEASE[case]
    store = _store(**{EU: _enterprises()})
    fast, slow = _decide(sql, {EU: proven[EU]}), _decide(sql, {EU: bounded[EU]})
    assert fast.rows_are_units == [EU] and slow.rows_are_units == []
    assert fast.cells == slow.cells and fast.noise == slow.noise  # the same sensitivity
    assert fast.tree is not None and slow.tree is not None
    assert not list(fast.tree.find_all(exp.Window)), "no ROW_NUMBER() when rows are units"
    _assert_same_core(_core(store, fast, keys), _core(store, slow, keys))


def test_the_shortcut_matches_the_operators_own_sql_on_exact_figures(proven) -> None:
    store = _store(**{EU: _enterprises()})
    sql = f"SELECT district, COUNT(*) AS n, COUNT(water_fee) AS c FROM {EU} GROUP BY district"
    core = _core(store, _decide(sql, {EU: proven[EU]}), ["district"])
    raw = store.execute(sql + " ORDER BY district").df()
    assert core["n"].tolist() == raw["n"].tolist() == core["__n"].tolist()
    assert core["c"].tolist() == raw["c"].tolist()


def test_top_contributions_are_the_two_largest_shares_from_a_top_n_aggregate(bounded) -> None:
    """The p-ratio and dominance rules read the two largest |unit shares| of each group;
    they come from MAX(x, 2), with no window ranking the units (the only windows left
    are the scans' contribution bounds)."""
    frame = _enterprises()
    store = _store(**{EU: frame})
    sql = f"SELECT district, SUM(water_fee) AS s FROM {EU} GROUP BY district"
    decision = _decide(sql, {EU: bounded[EU]})
    assert decision.tree is not None
    windows = list(decision.tree.find_all(exp.Window))
    assert len(windows) == 1 and windows[0].args["partition_by"][0].name == "enterprise_id"
    assert [m.args["count"].to_py() for m in decision.tree.find_all(exp.Max)] == [2]
    core = _core(store, decision, ["district"])
    shares = frame.assign(fee=frame["water_fee"].clip(0, FEE_HIGH)).dropna(subset=["fee"])
    for _, row in core.iterrows():
        largest = sorted(shares[shares["district"] == row["district"]]["fee"], reverse=True)
        assert (row["__top1__s"], row["__top2__s"]) == pytest.approx(tuple(largest[:2]))


def test_the_spark_form_of_the_top_contributions_computes_the_same_list(proven) -> None:
    """Spark has no MAX(x, n): its SQL sorts the group's values instead. Read back into
    DuckDB, that SQL gives the same companions as DuckDB's own."""
    store = _store(**{EU: _enterprises()})
    sql = f"SELECT district, SUM(water_fee) AS s FROM {EU} GROUP BY district"
    decision = _decide(sql, {EU: proven[EU]})
    spark = decision.sql_for("spark")
    assert spark is not None and "SORT_ARRAY(COLLECT_LIST(" in spark and "MAX(ABS" not in spark
    back = sqlglot.transpile(spark, read="spark", write="duckdb")[0]
    ours = store.execute(decision.sql).df().sort_values("district")
    theirs = store.execute(back).df().sort_values("district")
    for column in ("__top1__s", "__top2__s", "s"):
        assert ours[column].to_numpy() == pytest.approx(theirs[column].to_numpy())


def test_the_spark_form_ranks_before_it_collects_and_lists_the_same_values() -> None:
    """Spark's top-n lists collect only values ranked within n of their group and bucket,
    never a group's values whole (a group of millions would not fit an executor), and
    read back into DuckDB they are DuckDB's own lists: for groups far larger than
    n × the buckets, for ties and nulls, after the WHERE, and for a query without keys."""
    rng = np.random.default_rng(11)
    count = 200_000
    store = duckdb.connect()
    frame = pd.DataFrame(
        {
            "k": rng.choice(["a", "b", "c"], count, p=[0.9, 0.09, 0.01]),
            "d": rng.integers(-(2**62), 2**62, count),
            "v": rng.integers(0, 50, count).astype(float),  # many ties
        }
    )
    frame.loc[frame.index[::7], "v"] = np.nan
    # a group whose largest value shares its bucket with the NULLs: ranked with the
    # NULLs first, they would take its place
    [shared] = store.execute(
        "SELECT v FROM range(1000, 5000) r(v) "
        "WHERE HASH(v::DOUBLE) % 64 = HASH(NULL::DOUBLE) % 64 LIMIT 1"
    ).fetchall()
    crowded = pd.DataFrame({"k": "z", "d": np.arange(-5, 5), "v": [np.nan] * 5 + [1.0] * 5})
    crowded.loc[9, "v"] = float(shared[0])
    frame = pd.concat([frame, crowded], ignore_index=True)
    store.register("t", frame)
    for sql in (
        "SELECT k, MIN(d, 64) AS low, MAX(v, 2) AS top, COUNT(*) AS n FROM t "
        "WHERE v > 3 OR v IS NULL GROUP BY k",
        "SELECT MIN(d, 64) AS low, MAX(v, 2) AS top FROM t",
    ):
        tree = sqlglot.parse_one(sql, read="duckdb")
        spark = for_engine(tree, "spark")
        for listed in spark.find_all(exp.ArrayAgg):
            condition = listed.this.args["ifs"][0].this  # CASE WHEN __rankN <= n THEN x
            assert isinstance(condition, exp.LTE), listed.sql("spark")
            assert condition.this.name.startswith("__rank"), listed.sql("spark")
        back = sqlglot.transpile(spark.sql("spark"), read="spark", write="duckdb")[0]
        ours = store.execute(sql).df()
        theirs = store.execute(back).df()
        if "k" in ours:
            ours, theirs = ours.sort_values("k"), theirs.sort_values("k")
        for column in ours.columns:
            assert [list(x) if isinstance(x, np.ndarray) else x for x in theirs[column]] == [
                list(x) if isinstance(x, np.ndarray) else x for x in ours[column]
            ], column
    with pytest.raises(ValueError, match="one source"):
        qualified = "SELECT t.k, MIN(t.d, 2) FROM t GROUP BY t.k"
        for_engine(sqlglot.parse_one(qualified, read="duckdb"), "spark")


def test_a_figure_several_outputs_need_is_computed_once(proven, bounded) -> None:
    """SUM and AVG of one measure share its clamped shares, count and top contributions."""
    sql = (
        f"SELECT district, SUM(water_fee) AS s, AVG(water_fee) AS a, COUNT(*) AS n FROM {EU} "
        "GROUP BY district"
    )
    for schemas in ({EU: proven[EU]}, {EU: bounded[EU]}):
        decision = _decide(sql, schemas)
        assert decision.tree is not None
        ctes = {c.alias: c.this for c in decision.tree.find_all(exp.CTE)}
        stage = [p.alias for p in ctes["__per_unit"].selects]
        assert sum(name.startswith("__s") for name in stage) == 1
        assert sum(name.startswith("__f") for name in stage) == 1
        figures = ctes["__groups"].selects
        assert len(figures) == len({f.this.sql() for f in figures}), "no figure twice"
        assert len(list(ctes["__groups"].find_all(exp.Max))) == 1


def _planted(enterprises: pd.DataFrame, insured: pd.DataFrame, repeats: int):
    """One more enterprise paying the most water the bound allows, in 海曙区, with
    `repeats` rows in the insurance register (a unit a join would repeat)."""
    unit = "f" * 8
    extra = pd.DataFrame(
        {
            "enterprise_id": [unit],
            "district": ["海曙区"],
            "industry": ["制造业"],
            "employees": [10],
            "water_fee": [FEE_HIGH],
            "capital": [1.0],
        }
    )
    again = pd.DataFrame(
        {"enterprise_id": [unit] * repeats, "insured_staff": 10, "contribution": 1000.0}
    )
    return pd.concat([enterprises, extra]), pd.concat([insured, again])


JOINS = {
    "join to another dataset": (
        f"SELECT e.district, SUM(e.water_fee) AS s FROM {EU} e JOIN {SI} i "
        "ON e.enterprise_id = i.enterprise_id GROUP BY e.district"
    ),
    "self-join through another dataset": (
        f"SELECT a.district, SUM(a.water_fee) AS s FROM {EU} a JOIN {SI} i "
        f"ON a.enterprise_id = i.enterprise_id JOIN {EU} b ON b.enterprise_id = i.enterprise_id "
        "GROUP BY a.district"
    ),
    "left join": (
        f"SELECT e.district, SUM(e.water_fee) AS s FROM {EU} e LEFT JOIN {SI} i "
        "ON e.enterprise_id = i.enterprise_id GROUP BY e.district"
    ),
}


@pytest.mark.parametrize("case", JOINS, ids=list(JOINS))
def test_a_join_that_repeats_a_units_row_stays_bounded(case, proven) -> None:
    """Even with every dataset marked one row per unit, a join keeps per-unit bounding:
    the planted enterprise's 20 insurance rows would multiply its water fee by 20 in the
    operator's own SQL, but move the released sum by at most the charged sensitivity."""
    sql = JOINS[case]
    decision = _decide(sql, proven)
    [cell] = [c for c in decision.cells if c.column == "s"]
    enterprises = _enterprises()
    insured = _insured(enterprises)
    with_unit = _planted(enterprises, insured, repeats=20)
    released, exact, raw = [], [], []
    for eu, si in ((enterprises, insured), with_unit):
        store = _store(**{EU: eu, SI: si})
        core = _core(store, decision, ["s"]).set_index("district")
        released.append(core.loc["海曙区", "s"])
        exact.append(int(core.loc["海曙区", "__fx__s"]))  # what the noise is added to
        raw.append(store.execute(sql).df().set_index("district").loc["海曙区", "s"])
    assert raw[1] - raw[0] > cell.sensitivity * 10, "the join does repeat the planted row"
    # the fixed-point sum moves by whole units of `fine`, at most the bound's worth
    assert 0 < exact[1] - exact[0] <= round(cell.sensitivity / cell.fine)
    moved = released[1] - released[0]  # in floating point: up to rounding in the sum
    assert moved > 0 and (moved <= cell.sensitivity or moved == pytest.approx(cell.sensitivity))
    assert decision.rows_are_units == []


REPEATING = {
    "UNNEST": f"SELECT district, SUM(water_fee) AS s FROM {EU}, UNNEST([1, 2, 3]) GROUP BY 1",
    "generate_series": (
        f"SELECT district, SUM(water_fee) AS s FROM {EU}, generate_series(1, 5) GROUP BY 1"
    ),
    "UNION ALL of the table with itself": (
        f"SELECT district, SUM(water_fee) AS s FROM (SELECT * FROM {EU} UNION ALL "
        f"SELECT * FROM {EU}) t GROUP BY district"
    ),
    "a cte of the union": (
        f"WITH t AS (SELECT * FROM {EU} UNION ALL SELECT * FROM {EU}) "
        "SELECT district, SUM(water_fee) AS s FROM t GROUP BY district"
    ),
    "a cross join": f"SELECT a.district, SUM(a.water_fee) AS s FROM {EU} a, {EU} b GROUP BY 1",
}


@pytest.mark.parametrize("case", REPEATING, ids=list(REPEATING))
def test_what_else_repeats_rows_never_runs_unbounded(case, proven) -> None:
    """Table functions, unions and joins off the units are refused before anything runs;
    were one ever let through, it could not take the shortcut (asserted if it is)."""
    decision = check_query(REPEATING[case], proven, LicenseScope(tuple(proven), Level.L3), 1.0)
    assert decision.decision == "deny" or decision.rows_are_units == []
    assert decision.decision == "deny", "no such query is expected to run at all"


def _with_stored_digests(frame: pd.DataFrame) -> pa.Table:
    """The frame as ingest stores it: each row's unit digest beside it."""
    return with_unit_digests(pa.Table.from_pandas(frame, preserve_index=False), "enterprise_id")


@pytest.mark.parametrize("shape", ["rows are units", "bounded per unit"])
def test_stored_unit_digests_list_the_populations_hashing_lists(shape, bounded, proven) -> None:
    """Where ingest stored each unit's digest, the core lists it instead of hashing the
    unit: the same digests per group (so cells from either form compare in the
    differencing store), no MD5 in the SQL, no NULL in a list, and every figure as before.
    Where it stored their check values too, the sketches read those and are the same."""
    sql, keys = SAME_RELEASE["two keys, a filter, a clamped integer measure"]
    frame = _enterprises()
    frame.loc[::41, "enterprise_id"] = None  # a few rows without a unit
    frame.loc[frame["district"] == "北仑区", "enterprise_id"] = None  # a group with none
    store = _store(**{EU: _with_stored_digests(frame)})
    schema = (proven if shape == "rows are units" else bounded)[EU]
    stored = _decide(sql, {EU: replace(schema, unit_digests=True)})
    hashed = _decide(sql, {EU: schema})
    assert stored.sql is not None and hashed.sql is not None
    assert "MD5" not in stored.sql.upper() and "MD5" in hashed.sql.upper()
    assert stored.cells == hashed.cells and stored.noise == hashed.noise
    checked = _decide(sql, {EU: replace(schema, unit_digests=True, unit_checks=True)})
    assert checked.sql is not None and checked.cells == stored.cells
    feistel = str(ROUND_KEYS[0])  # the check's first multiplier, in SQL only when computed
    assert feistel in stored.sql and feistel not in checked.sql
    assert "__unit_check" in checked.sql and "__unit_check" not in stored.sql
    ours = _core(store, stored, keys)
    _assert_same_core(ours, _core(store, hashed, keys))
    _assert_same_core(ours, _core(store, checked, keys))
    empty = ours[ours["district"] == "北仑区"]
    assert len(empty), "the group without units is there"
    for column in POPULATION:
        assert all(len(listed) == 0 for listed in empty[column]), "an empty list, not NULL"
    listed = store.execute(  # each group's units' digests, as ingest wrote them
        f"SELECT district, industry, LIST(__unit_digest) FILTER (__unit_digest IS NOT NULL) "
        f"FROM {EU} WHERE capital > 1000000 GROUP BY ALL"
    ).fetchall()
    expected = {(d, i): sketch_of(np.array(u or [], np.int64)).to_bytes() for d, i, u in listed}
    keys_of = list(zip(ours["district"], ours["industry"], strict=True))
    found = dict(zip(keys_of, _populations(ours), strict=True))
    # a group of NULL units only may lose its rows to the bound (NULL is one "unit" there)
    assert {(d, i) for d, i, units in listed if units} <= set(found)
    assert found == {key: expected[key] for key in found}


@pytest.mark.parametrize("checks", ["checks computed", "checks stored"])
@pytest.mark.parametrize("shape", ["rows are units", "bounded per unit"])
def test_a_large_group_carries_its_sketch_a_small_one_its_digests(
    shape, checks, bounded, proven
) -> None:
    """A group of more than 64 units is sent as its 64 lowest digests and the cells of
    its sketch; a smaller one as all its digests and no cells (the gate sketches them).
    Both read back as the sketch of the group's units, whether the cells' check values
    were computed in SQL or read where ingest stored them."""
    frame = _enterprises(count=600)
    # groups on either side of the limit: 64 units (digests alone) and 65 (cells)
    frame["district"] = ["海曙区"] * 64 + ["江北区"] * 65 + ["镇海区"] * 471
    store = _store(**{EU: _with_stored_digests(frame)})
    schema = replace(
        (proven if shape == "rows are units" else bounded)[EU],
        unit_digests=True,
        unit_checks=checks == "checks stored",
    )
    sql = f"SELECT district, SUM(employees) AS e FROM {EU} WHERE district <> '北仑区' GROUP BY 1"
    for query, keys in ((sql, ["district"]), (f"SELECT SUM(employees) AS e FROM {EU}", [])):
        ours = _core(store, _decide(query, {EU: schema}), keys)
        groups = store.execute(
            f"SELECT {keys[0] if keys else 'true'}, LIST(__unit_digest) FROM {EU} "
            f"WHERE {'district <> ' + repr('北仑区') if keys else 'true'} GROUP BY ALL ORDER BY 1"
        ).fetchall()
        assert len(groups) == len(ours)
        for (_, row), (_, digests) in zip(ours.iterrows(), groups, strict=True):
            large = len(digests) > 64
            assert len(row["__lowest"]) == min(len(digests), 64)
            assert (len(row["__sketch"]) > 0) is large
        expected = [sketch_of(np.array(d, np.int64)).to_bytes() for _, d in groups]
        assert _populations(ours) == expected
    assert [len(d) for _, d in groups] == [600], "the whole table is one large group"


@pytest.mark.parametrize("column", ["__unit_digest", "__unit_check"])
def test_no_query_may_name_the_stored_unit_digest(proven, column) -> None:
    schemas = {EU: replace(proven[EU], unit_digests=True, unit_checks=True)}
    for sql in (
        f"SELECT district, SUM({column}) AS s FROM {EU} GROUP BY district",
        f"SELECT {column}, COUNT(*) AS n FROM {EU} GROUP BY {column}",
        f"SELECT district, COUNT(*) AS n FROM {EU} WHERE {column} > 0 GROUP BY district",
    ):
        with pytest.raises(InvalidInput, match=column) as refused:
            check_query(sql, schemas, LicenseScope((EU,), Level.L3), 1.0)
        assert refused.value.message_code == "policy_columns_unresolved", sql
