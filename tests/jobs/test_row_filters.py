"""License row filters act on the data: a job reads only the rows its license allows.

Attack tests decode. The rows outside the filter are the planted secret: every SQL
form that once widened the injected filter runs for real in the sandbox, and what
would leave is compared with the truth for 镇海区 alone, computed from the raw demo
file. Then: two datasets with different filters, the cache of filtered files, and
the Spark and notebook paths reading the same files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import nbformat
import pandas as pd
import pytest

from catalog import get_dataset
from catalog.records import Dataset
from gate.step import candidate_table
from jobs.license_data import license_files
from jobs.queries import get_job
from jobs.runner import run, start
from jobs.submit import submit
from operators.records import License
from tests.conftest import World, require_component
from tests.policies.conftest import fresh_company, sandbox_world

pytestmark = pytest.mark.sandbox  # every test here runs real jobs

E = "enterprise_utilities"
S = "social_insurance"
ZHENHAI = "镇海区"
ONLY_ZHENHAI = {E: f"district = '{ZHENHAI}'"}
STAFFED = "insured_staff >= 20"
BY_DISTRICT = f"SELECT district, COUNT(*) AS n FROM {E} GROUP BY district"

# Each form once widened a filter injected into the SQL; the CTE named after the
# dataset is refused by the policy engine, the others run.
ATTACKS = {
    "or_1_eq_1": f"SELECT district, COUNT(*) AS n FROM {E} "
    f"WHERE district = '{ZHENHAI}' OR 1 = 1 GROUP BY district",
    "cte_named_after_dataset": f"WITH {E} AS (SELECT * FROM {E}) "
    f"SELECT district, COUNT(*) AS n FROM {E} GROUP BY district",
    "cte": f"WITH e AS (SELECT * FROM {E}) SELECT district, COUNT(*) AS n FROM e GROUP BY district",
    "subquery": f"SELECT district, COUNT(*) AS n FROM (SELECT * FROM {E} WHERE 1 = 1) AS t "
    "GROUP BY district",
    "in_subquery": f"SELECT district, COUNT(*) AS n FROM {E} "
    f"WHERE district IN (SELECT district FROM {E}) GROUP BY district",
    "self_join": f"SELECT a.district, COUNT(*) AS n FROM {E} a JOIN {E} b "
    "ON a.enterprise_id = b.enterprise_id GROUP BY a.district",
    "union": f"SELECT district, COUNT(*) AS n FROM {E} WHERE district = '{ZHENHAI}' "
    f"GROUP BY district UNION ALL SELECT district, COUNT(*) AS n FROM {E} "
    f"WHERE district <> '{ZHENHAI}' GROUP BY district",
    "union_inside": f"SELECT district, COUNT(*) AS n FROM (SELECT district FROM {E} "
    f"UNION ALL SELECT district FROM {E} WHERE FALSE) AS u GROUP BY district",
}
REFUSED = {"cte_named_after_dataset"}


@pytest.fixture(scope="module")
def filtered_world(
    tmp_path_factory: pytest.TempPathFactory, demo_files: list[tuple[Path, Path]]
) -> World:
    return sandbox_world(tmp_path_factory, demo_files, "rowfilter", row_filters=ONLY_ZHENHAI)


@pytest.fixture(scope="module")
def raw(demo_files: list[tuple[Path, Path]]) -> pd.DataFrame:
    """Each enterprise's raw row joined with its social insurance row."""
    enterprises = pd.read_csv(demo_files[0][0], dtype={"enterprise_id": str})
    insurance = pd.read_csv(demo_files[1][0], dtype={"enterprise_id": str})
    return enterprises.merge(insurance, on="enterprise_id", how="left")


def released(world: World, sql: str) -> tuple[str, pd.DataFrame | None]:
    """The job's status, and the table that would leave if reviewers approved it.

    The table's `attrs["noisy"]` says whether it is a DP release (docs/privacy-model.md).
    """
    d = world.domain
    settings = d.settings.job_settings()
    with d.transaction() as session:
        submitted = submit(session, world.license_id, world.operator, settings, sql=sql)
        job_id, status = submitted.id, submitted.status
    if status == "denied":
        return status, None
    job = run(d.sessions, d.home, job_id, settings)
    if job.status != "awaiting_review":
        return job.status, None
    table = candidate_table(d.home, job)
    table.attrs["noisy"] = job.policy.get("regime") == "dp"
    return job.status, table


# A noisy count (ε of at least 0.25, sensitivity 1) strays this far from its truth with
# a probability below e^-10.
NOISE_ROOM = 40


def assert_only(table: pd.DataFrame, district: str, truth: int) -> None:
    """Only `district` holds data: exactly, or in a DP release (which lists every public
    district) as its noisy count, with every other district's count noise around zero."""
    counts = dict(zip(table["district"], table["n"], strict=True))
    if not table.attrs.get("noisy"):
        assert counts == {district: truth}
        return
    assert abs(counts[district] - truth) <= NOISE_ROOM
    others = {k: v for k, v in counts.items() if k != district}
    assert all(abs(v) <= NOISE_ROOM for v in others.values()), others


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_no_query_form_widens_a_row_filter(
    filtered_world: World, raw: pd.DataFrame, attack: str
) -> None:
    world = fresh_company(filtered_world, f"attack-{attack}", ONLY_ZHENHAI)
    status, table = released(world, ATTACKS[attack])
    if attack in REFUSED:
        assert status == "denied" and table is None
        return
    assert status == "awaiting_review" and table is not None
    truth = int((raw["district"] == ZHENHAI).sum())
    assert 10 <= truth < len(raw)  # a real filter, and a group large enough to release
    assert_only(table, ZHENHAI, truth)


def test_a_job_counts_only_the_rows_it_may_see(filtered_world: World, raw: pd.DataFrame) -> None:
    world = fresh_company(filtered_world, "total", ONLY_ZHENHAI)
    status, table = released(world, f"SELECT COUNT(*) AS n FROM {E}")
    assert status == "awaiting_review" and table is not None
    assert table["n"].tolist() == [int((raw["district"] == ZHENHAI).sum())]


def test_two_datasets_with_their_own_filters_join_to_rows_both_allow(
    filtered_world: World, raw: pd.DataFrame
) -> None:
    world = fresh_company(filtered_world, "two-filters", {**ONLY_ZHENHAI, S: STAFFED})
    sql = (
        f"SELECT e.district, COUNT(*) AS n FROM {E} e JOIN {S} s "
        "ON e.enterprise_id = s.enterprise_id GROUP BY e.district"
    )
    status, table = released(world, sql)
    assert status == "awaiting_review" and table is not None
    both = int(((raw["district"] == ZHENHAI) & (raw["insured_staff"] >= 20)).sum())
    assert 10 <= both < int((raw["district"] == ZHENHAI).sum())
    assert_only(table, ZHENHAI, both)
    _, staffed = released(world, f"SELECT COUNT(*) AS n FROM {S}")
    assert staffed is not None
    assert staffed["n"].tolist() == [int((raw["insured_staff"] >= 20).sum())]


def _stamp(path: Path) -> tuple[int, int]:
    return path.stat().st_ino, path.stat().st_mtime_ns


def _districts(path: Path) -> set[str]:
    rows = duckdb.sql(f"SELECT DISTINCT district FROM read_parquet('{path}')").fetchall()
    return {row[0] for row in rows}


def test_filtered_files_are_reused_and_rebuilt_when_version_or_filter_changes(
    filtered_world: World,
) -> None:
    world = fresh_company(filtered_world, "cache", ONLY_ZHENHAI)
    d = world.domain
    with d.transaction() as session:
        files = license_files(session, d.home, session.get(License, world.license_id))
        store = get_dataset(session, S).data_path(d.home)
    first = files[E]
    assert first.is_relative_to(d.home.filtered) and files[S] == store  # S is not filtered
    assert _districts(first) == {ZHENHAI}
    assert first.stat().st_mode & 0o777 == 0o644  # the sandbox's unprivileged user reads it
    stamp = _stamp(first)
    settings = d.settings.job_settings()
    with d.transaction() as session:  # two jobs starting: both mount the same file, unrebuilt
        runs = []
        for _ in range(2):
            job = submit(session, world.license_id, world.operator, settings, sql=BY_DISTRICT)
            runs.append(start(session, d.home, job, settings))
    assert [r.data[E] for r in runs if r is not None] == [first, first]
    assert _stamp(first) == stamp
    try:
        with d.transaction() as session:
            session.get(Dataset, get_dataset(session, E).id).version += 1
        with d.transaction() as session:
            newer = license_files(session, d.home, session.get(License, world.license_id))[E]
        assert newer != first and not first.exists() and _districts(newer) == {ZHENHAI}
    finally:
        with d.transaction() as session:
            session.get(Dataset, get_dataset(session, E).id).version -= 1
    with d.transaction() as session:
        license = session.get(License, world.license_id)
        license.row_filters = {E: "district = '海曙区'"}
        changed = license_files(session, d.home, license)[E]
    assert changed.parent == first.parent and _districts(changed) == {"海曙区"}


def test_a_filter_that_no_longer_fits_fails_the_job_before_it_runs(filtered_world: World) -> None:
    world = fresh_company(filtered_world, "stale-filter", ONLY_ZHENHAI)
    d = world.domain
    settings = d.settings.job_settings()
    with d.transaction() as session:
        job_id = submit(session, world.license_id, world.operator, settings, sql=BY_DISTRICT).id
        session.get(License, world.license_id).row_filters = {E: "legal_person = 'x'"}
    job = run(d.sessions, d.home, job_id, settings)
    assert job.status == "failed" and job.failure is not None
    assert job.failure.kind == "license" and "row filter" in job.failure
    with d.transaction() as session:
        assert get_job(session, job_id).started_at is None


def test_a_notebook_sees_only_the_filtered_rows(filtered_world: World, raw: pd.DataFrame) -> None:
    world = fresh_company(filtered_world, "notebook", ONLY_ZHENHAI)
    d = world.domain
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    settings = d.settings.job_settings()
    with d.transaction() as session:
        job = submit(
            session, world.license_id, world.operator, settings, notebook=nbformat.writes(notebook)
        )
        sandbox_run = start(session, d.home, job, settings)
    assert sandbox_run is not None
    view = sandbox_run.data[E]
    try:
        assert view.is_relative_to(sandbox_run.work_dir / "views")
        assert _districts(view) == {ZHENHAI}
        count = duckdb.sql(f"SELECT COUNT(*) FROM read_parquet('{view}')").fetchall()
        assert count == [(int((raw["district"] == ZHENHAI).sum()),)]
    finally:
        shutil.rmtree(sandbox_run.work_dir / "views", ignore_errors=True)


def test_spark_reads_the_same_filtered_files(filtered_world: World, raw: pd.DataFrame) -> None:
    require_component(shutil.which("java") is not None, "Java (for Spark)")
    try:
        import pyspark  # noqa: F401
    except ImportError:
        require_component(False, "pyspark (pip install pyspark)")
    from jobs.spark_engine import stop_sessions
    from jobs.worker import WorkerOptions, work_one

    world = fresh_company(filtered_world, "spark", ONLY_ZHENHAI)
    d = world.domain
    settings = d.settings.job_settings()
    sql = ATTACKS["or_1_eq_1"]
    with d.transaction() as session:
        job_id = submit(
            session, world.license_id, world.operator, settings, sql=sql, engine="spark"
        ).id
    try:
        options = WorkerOptions("spark-row-filter", spark_master="local[1]")
        assert work_one(d.sessions, d.home, options, settings, job_id) == (job_id, "recorded")
    finally:
        stop_sessions()
    with d.transaction() as session:
        job = get_job(session, job_id)
        assert job.status == "awaiting_review", job.failure
        table = candidate_table(d.home, job)
    assert table["district"].tolist() == [ZHENHAI]
    assert table["n"].tolist() == [int((raw["district"] == ZHENHAI).sum())]


def test_a_notebooks_query_reads_only_the_filtered_rows(filtered_world: World) -> None:
    """query() is a child SQL job under the notebook's licence: the same filtered files."""
    import nbformat

    from jobs.records import Job
    from jobs.runner import run
    from jobs.submit import submit_notebook

    world = fresh_company(filtered_world, "broker", ONLY_ZHENHAI)
    d = world.domain
    source = (
        "import sluice_runtime as sr\n"
        f"t = sr.query({BY_DISTRICT!r})\n"
        "t.to_csv('/out/districts.csv', index=False)\n"
        "open('/out/view.txt', 'w').write(','.join(sorted(set(sr.dataset('"
        f"{E}')['district']))))\n"
    )
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    settings = d.settings.job_settings()
    with d.transaction() as session:
        job_id = submit_notebook(
            session, world.license_id, world.operator, nbformat.writes(book), settings
        ).id
    done = run(d.sessions, d.home, job_id, settings)
    assert done.status == "awaiting_review", done.failure
    out = d.home.jobs / str(job_id) / "out"
    assert set(pd.read_csv(out / "districts.csv")["district"]) == {ZHENHAI}
    assert (out / "view.txt").read_text() == ZHENHAI  # the L1 view is filtered too
    with d.sessions() as session:
        assert session.query(Job).filter(Job.parent_id == job_id).count() == 1
