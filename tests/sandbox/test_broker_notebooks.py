"""Notebooks through the broker, in real sandboxes: query() and schema() run as child SQL
jobs outside the notebook; nothing a notebook writes is a gate-ready table."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from jobs.records import Job
from jobs.runner import run
from jobs.submit import submit_notebook
from tests.conftest import World
from tests.sandbox.conftest import BACKENDS
from tests.sandbox.test_notebooks import notebook


def run_notebook_job(world: World, source: str, backend: str, runners, **changes) -> Job:
    runners[backend]  # the backend is here, or the test skips/fails as require_component says
    settings = dataclasses.replace(world.domain.settings.job_settings(), backend=backend, **changes)
    with world.domain.transaction() as session:
        job_id = submit_notebook(session, world.license_id, world.operator, source, settings).id
    return run(world.domain.sessions, world.domain.home, job_id, settings)


def children(world: World, parent: int) -> list[Job]:
    from sqlalchemy import select

    with world.domain.sessions() as session:
        found = session.scalars(select(Job).where(Job.parent_id == parent).order_by(Job.id))
        jobs = list(found)
        for job in jobs:
            session.expunge(job)
        return jobs


RANKING = notebook(
    "import sluice_runtime as sr\n"
    "t = sr.query('SELECT district, COUNT(*) AS n, AVG(water_fee) AS fee "
    "FROM enterprise_utilities GROUP BY district')\n"
    "ranked = t.sort_values('fee', ascending=False).reset_index(drop=True)\n"
    "ranked['rank'] = ranked.index + 1\n"
    "ranked.to_csv('/out/ranking.csv', index=False)\n"
    "print('RELEASED', len(t), sorted(t.columns))",
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_query_ranks_a_released_table(world: World, backend: str, runners) -> None:
    done = run_notebook_job(world, RANKING, backend, runners)
    assert done.status == "awaiting_review", done.failure
    [child] = children(world, done.id)
    assert child.kind == "sql" and child.status == "awaiting_review" and child.epsilon > 0
    ranking = pd.read_csv(world.domain.home.jobs / str(done.id) / "out" / "ranking.csv")
    released = pd.read_csv(world.domain.home.jobs / str(child.id) / "candidate" / "result.csv")
    # the notebook got the released (noisy, gated) table, not the exact core
    merged = ranking.merge(released, on="district", suffixes=("", "_released"))
    assert len(merged) == len(released) > 0
    assert (merged["fee"] == merged["fee_released"]).all()
    assert list(ranking["rank"]) == list(range(1, len(ranking) + 1))
    assert done.gate["custom"] == ["custom/ranking.csv"]  # re-written: custom, as all are
