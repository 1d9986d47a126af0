"""Two phases, attacked: nothing written above the core can read an exact value.

Each attack here once recovered exact L3 values (see issue 12). The attacker plants
nothing; the test knows the truth from the raw file and tries to decode it from what
the job would release with every reviewer approving. The defence under test is
structural: the output must be a function of the released core table alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gate.step import candidate_table, kept_dir
from jobs.postprocess import post_process
from jobs.queries import get_job
from jobs.runner import CORE_FILE, run
from jobs.submit import submit
from tests.conftest import World
from tests.policies.conftest import fresh_company


def run_job(world: World, sql: str) -> tuple[str, pd.DataFrame | None, pd.DataFrame | None]:
    """(status, released output, released core table) of one job, as the system ran it."""
    settings = world.domain.settings.job_settings()
    with world.domain.transaction() as session:
        submitted = submit(session, world.license_id, world.operator, settings, sql=sql)
        job_id, status = submitted.id, submitted.status
    if status == "denied":
        return status, None, None
    job = run(world.domain.sessions, world.domain.home, job_id, settings)
    if job.status != "awaiting_review":
        return job.status, None, None
    with world.domain.transaction() as session:
        job = get_job(session, job_id)
        output = candidate_table(world.domain.home, job)
        core_path = kept_dir(world.domain.home, job.id) / CORE_FILE
        core = pd.read_csv(core_path) if core_path.exists() else output
        return job.status, output, core


@pytest.fixture(scope="module")
def raw(demo_files: list[tuple[Path, Path]]) -> pd.DataFrame:
    return pd.read_csv(demo_files[0][0])


def exact_sums(raw: pd.DataFrame) -> pd.Series:
    clamped = raw["water_fee"].clip(0, 1_000_000)
    return clamped.groupby(raw["district"]).sum()


def test_a_named_window_over_a_sum_sees_only_noisy_values(
    corpus_world: World, raw: pd.DataFrame
) -> None:
    """Issue 12: PARTITION BY an expression of the exact SUM gave every fee to the cent."""
    world = fresh_company(corpus_world, "window-attacker")
    sql = (
        "WITH t AS (SELECT district, SUM(water_fee) AS s FROM enterprise_utilities "
        "GROUP BY district) SELECT district, CAST(FLOOR(s) AS BIGINT) AS cents_floor, "
        "COUNT(*) OVER w AS c FROM t WINDOW w AS (PARTITION BY FLOOR(s))"
    )
    status, output, core = run_job(world, sql)
    assert status == "awaiting_review"
    assert output is not None and core is not None
    post = "SELECT district, CAST(FLOOR(s) AS BIGINT) AS cents_floor, COUNT(*) OVER w AS c FROM "
    post += "__released WINDOW w AS (PARTITION BY FLOOR(s))"
    again = post_process(core, post)
    pd.testing.assert_frame_equal(
        output.sort_values("district").reset_index(drop=True),
        again.sort_values("district").reset_index(drop=True),
        check_dtype=False,
    )
    truth = exact_sums(raw)
    decoded = output.set_index("district")["cents_floor"]
    hits = sum(int(decoded[d]) == int(np.floor(truth[d])) for d in decoded.index if d in truth)
    assert hits == 0, "an exact sum came out"


def test_order_by_all_sorts_released_values_not_exact_ones(corpus_world: World) -> None:
    """Issue 12: ORDER BY ALL with the L3 aggregate first sorted rows by pre-noise values."""
    world = fresh_company(corpus_world, "order-attacker")
    sql = (
        "SELECT SUM(water_fee) AS s, district FROM enterprise_utilities "
        "GROUP BY district ORDER BY ALL"
    )
    status, output, _ = run_job(world, sql)
    assert status == "awaiting_review" and output is not None
    released = output["s"].dropna().to_numpy()
    assert len(released) >= 5
    assert (np.diff(released) >= 0).all(), "the output is in the order of the released values"


def test_having_on_a_hidden_sum_cannot_search_for_one_enterprise(
    corpus_world: World, raw: pd.DataFrame
) -> None:
    """Binary search with HAVING on one enterprise's fee: the guess never meets the exact
    fee. The core is the same for every guess; the guess acts only on the released,
    noisy table, so the answer is a function of noise the attacker cannot remove."""
    target = raw.groupby(["district", "industry"]).filter(lambda g: len(g) == 1).iloc[0]
    fee = float(target["water_fee"])
    cores, outputs = set(), []
    for guess in (fee - 1.0, fee + 1.0):
        world = fresh_company(corpus_world, f"search-{guess:.0f}")
        sql = (
            "SELECT industry, COUNT(*) AS n FROM enterprise_utilities "
            f"WHERE district = '{target['district']}' GROUP BY industry "
            f"HAVING SUM(water_fee) > {guess}"
        )
        settings = world.domain.settings.job_settings()
        with world.domain.transaction() as session:
            job = submit(session, world.license_id, world.operator, settings, sql=sql)
            cores.add(job.rewritten_sql)
            assert str(guess) in job.policy["post_sql"]
        status, output, core = run_job(world, sql)
        assert status == "awaiting_review" and output is not None and core is not None
        pd.testing.assert_frame_equal(
            output, post_process(core, job.policy["post_sql"]), check_dtype=False
        )
        outputs.append(core)
    assert len(cores) == 1, "the exact core never sees the guess"
    hidden = [c for c in outputs[0].columns if c.startswith("_hidden")]
    row = outputs[0][outputs[0]["industry"] == target["industry"]]
    assert abs(float(row[hidden[0]].iloc[0]) - fee) > 2.0, "the released sum is noisy"


def test_an_overflow_cannot_tell_one_enterprise_from_another(
    corpus_world: World, raw: pd.DataFrame
) -> None:
    """Issue 12: a core that errors on some values is an oracle (failed vs succeeded)."""
    alone = raw.groupby(["district", "industry"]).filter(lambda g: len(g) == 1)
    big = alone[alone["employees"] >= 2].iloc[0]
    small = raw[raw["employees"] < 2].iloc[0]
    outcomes = []
    for name, target in (("big", big), ("small", small)):
        world = fresh_company(corpus_world, f"overflow-{name}")
        sql = (
            "SELECT district, COUNT(*) AS n FROM enterprise_utilities "
            f"WHERE district = '{target['district']}' AND industry = '{target['industry']}' "
            "AND employees * 4611686018427387904 > 0 GROUP BY district"
        )
        status, _, _ = run_job(world, sql)
        outcomes.append(status)
    assert "failed" not in outcomes
    assert outcomes[0] == outcomes[1], "the outcome must not depend on the target's value"


def test_a_suppressed_row_does_not_tell_whether_an_enterprise_is_in_the_data(
    corpus_world: World, raw: pd.DataFrame
) -> None:
    """Issue 12: the gate blanked the cells of group 'T' but released the row, so its
    existence answered whether the target enterprise was in the (joined) dataset."""
    target = raw.iloc[0]
    answers = []
    for name, capital in (("present", target["capital"]), ("absent", -1)):
        world = fresh_company(corpus_world, f"membership-{name}")
        sql = (
            f"SELECT CASE WHEN street = '{target['street']}' AND capital = {capital} "
            "THEN 'T' ELSE district END AS k, COUNT(*) AS n FROM enterprise_utilities GROUP BY 1"
        )
        status, output, _ = run_job(world, sql)
        assert status == "awaiting_review" and output is not None
        answers.append(sorted(output["k"].astype(str)))
    assert "T" not in answers[0]
    assert answers[0] == answers[1], "the released keys must not depend on the target"


@pytest.mark.parametrize(
    "narrowed",
    [
        "COUNT(*) FILTER (WHERE NOT ({target}))",
        "COUNT(CASE WHEN NOT ({target}) THEN 1 END)",
    ],
)
def test_two_counts_of_one_row_cannot_be_subtracted_into_one_enterprise(
    corpus_world: World, raw: pd.DataFrame, narrowed: str
) -> None:
    """A total beside the same total without one enterprise, in one row: a − b is 1 if
    the target is in the data. Each count alone rests on hundreds of enterprises."""
    target = raw.iloc[0]
    year = str(target["founded"])[:4]
    condition = (
        f"street = '{target['street']}' AND employees = {int(target['employees'])} "
        f"AND year(founded) = {year}"
    )
    truth = (
        (raw["street"] == target["street"])
        & (raw["employees"] == target["employees"])
        & (raw["founded"].astype(str).str[:4] == year)
    ).sum()
    world = fresh_company(corpus_world, f"row-difference-{len(narrowed)}")
    sql = (
        f"SELECT district, COUNT(*) AS a, {narrowed.format(target=condition)} AS b "
        "FROM enterprise_utilities GROUP BY district"
    )
    status, output, _ = run_job(world, sql)
    if output is None:
        return  # denied or withheld: nothing to subtract
    row = output[output["district"] == target["district"]]
    decoded = (row["a"] - row["b"]).dropna().tolist()
    assert decoded != [truth], "a − b gave the number of enterprises like the target"
