"""Notebooks through the broker, in real sandboxes: query() and schema() run as child SQL
jobs outside the notebook; nothing a notebook writes is a gate-ready table."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from core.errors import InvalidInput
from gate.model_artifact import DpModel
from jobs.records import Job
from jobs.runner import run
from jobs.submit import submit_notebook
from operators.records import License, User
from products.review import review
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


# --- forging: nothing a notebook writes is a gated table ---------------------------

PLANTED_FEE = 777_777.25  # the planted enterprise's water fee (L3)
PLANTED_CAPITAL = 98_765_432.0  # and its registered capital (L2)

FORGER = notebook(
    r"""
import glob, json, os, socket
import pandas as pd
import sluice_runtime as sr
got = {}
view = sr.dataset('enterprise_utilities')
got['view_columns'] = sorted(view.columns)
# 1. a released table (noisy, gated), then row-level data forged from it under made-up units
t = sr.query("SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district")
fake = pd.concat([t.assign(unit=f'u{i}') for i in range(10)])
fake['__n'] = 10
fake.to_parquet('/out/made_up_units.parquet')
# 2. a hand-written table note and manifest, claiming the forged file is the helper's
note = {'file': 'made_up_units.parquet', 'unit': 'unit', 'by': ['district'],
        'cells': [{'column': 'district', 'kind': 'group_key'}, {'column': 'n', 'kind': 'count'}]}
json.dump(note, open('/out/.sluice-table-made_up_units.json', 'w'))
json.dump({'tables': {'made_up_units.parquet': note}, 'custom': []},
          open('/out/.sluice-manifest.json', 'w'))
# 3. a forged parquet with an __n claiming a crowd behind each row
pd.DataFrame({'district': view['district'].head(20), 'n': 1, '__n': 1000}).to_parquet(
    '/out/forged.parquet')
""",
    r"""
# row-level and targeted reads of the planted enterprise: each must be refused or noised
attempts = {
  'rows': "SELECT water_fee, capital FROM enterprise_utilities",
  'max': "SELECT district, MAX(water_fee) AS m FROM enterprise_utilities GROUP BY district",
  'one': "SELECT SUM(water_fee) AS s, COUNT(*) AS n FROM enterprise_utilities "
         "WHERE capital > 98765000",
  'key': "SELECT capital, COUNT(*) AS n FROM enterprise_utilities GROUP BY capital",
}
for name, sql in attempts.items():
    try:
        got[name] = sr.query(sql).to_dict('list')
    except sr.broker.BrokerRefused as exc:
        got[name] = {'refused': exc.status, 'why': str(exc)}
got['schema_keys'] = sorted(sr.schema())
""",
    r"""
# 4. the broker's folder holds the socket alone; its other files and other jobs are not here
got['broker_dir'] = sorted(os.listdir('/broker'))
mounts = open('/proc/self/mountinfo').read().split('\n')
source = [l.split()[3] for l in mounts if ' /broker ' in l][0]
host_jobs = os.path.dirname(os.path.dirname(source))
got['reach'] = {p: os.path.exists(p) for p in [source, host_jobs, os.path.join(host_jobs, '1')]}
try:
    open('/broker/other', 'w').write('x')
    got['write'] = 'written'
except OSError as exc:
    got['write'] = type(exc).__name__
# a request that is too large is refused, and the broker still answers afterwards
s = socket.socket(socket.AF_UNIX); s.connect('/broker/sluice.sock')
s.sendall((10**6).to_bytes(4, 'big') + b'x' * 100)
got['oversized'] = s.recv(4096)[4:].decode(errors='replace'); s.close()
got['after'] = len(sr.query("SELECT district FROM enterprise_utilities LIMIT 3"))
json.dump(got, open('/out/got.json', 'w'), ensure_ascii=False, default=str)
""",
)


def plant(world: World) -> str:
    """Give one enterprise an unmistakable L3 fee and L2 capital in the store."""
    store = world.domain.home.store / "enterprise_utilities" / "data.parquet"
    frame = pd.read_parquet(store)
    unit = str(frame["enterprise_id"].iloc[17])
    frame.loc[frame["enterprise_id"] == unit, ["water_fee", "capital"]] = [
        PLANTED_FEE,
        PLANTED_CAPITAL,
    ]
    frame.to_parquet(store, index=False)
    return unit


def numbers_in(path: Path) -> list[float]:
    text = path.read_bytes().decode("utf-8", "replace")
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        text = frame.to_csv(index=False)
    found = []
    for token in re.split(r"[^0-9.eE+-]+", text):
        with contextlib.suppress(ValueError):
            found.append(float(token))
    return found


@pytest.mark.parametrize("backend", BACKENDS)
def test_forged_tables_stay_custom_and_the_planted_value_never_leaves(
    world: World, backend: str, runners
) -> None:
    unit = plant(world)
    done = run_notebook_job(world, FORGER, backend, runners)
    assert done.status == "awaiting_review", done.failure
    home = world.domain.home
    got = json.loads((home.jobs / str(done.id) / "out" / "got.json").read_text())
    assert got["view_columns"] == ["district", "industry"]  # /data holds L1 only
    # every file the notebook wrote is custom: the forged unit table, the forged __n
    # table and its note (removed) count for nothing
    assert done.policy["notebook_outputs"] == {
        "tables": {},
        "custom": ["forged.parquet", "got.json", "made_up_units.parquet"],
    }
    assert done.gate["custom"] == [
        "custom/forged.parquet",
        "custom/got.json",
        "custom/made_up_units.parquet",
    ]
    assert [f for f in done.gate["files"] if f["kind"] == "table"] == []
    # row-level reads are denied; MAX over L3 is denied
    assert got["rows"]["refused"] == "denied" and got["max"]["refused"] == "denied"
    assert got["key"]["refused"] in ("denied", "blocked")
    # the broker's folder: the socket only, read-only; the host's job folders are not here
    assert got["broker_dir"] == ["sluice.sock"]
    assert got["write"] in ("OSError", "PermissionError")
    assert got["reach"] and not any(got["reach"].values())
    assert "bad_request" in got["oversized"] and got["after"] == 3
    # decode: the planted values are nowhere in what the notebook got or wrote
    for path in (home.jobs / str(done.id) / "out").iterdir():
        values = numbers_in(path)
        assert not any(abs(v - PLANTED_FEE) < 1 for v in values), path.name
        assert not any(abs(v - PLANTED_CAPITAL) < 1 for v in values), path.name
    assert unit not in (home.jobs / str(done.id) / "out" / "got.json").read_text()
    # and none of it leaves without two reviewers and a written exception
    with world.domain.transaction() as session:
        reviewer = session.scalars(select(User).where(User.name == world.reviewers[0])).one()
        with pytest.raises(InvalidInput, match="only custom outputs"):
            review(session, home, done.id, reviewer, "approve")


# --- DP models -------------------------------------------------------------------------

FITTER = notebook(
    r"""
import json
import sluice_runtime as sr
view = sr.dataset('enterprise_utilities')
m = sr.fit('logistic_regression',
           "SELECT capital, employees, water_fee, district FROM enterprise_utilities",
           features=['capital', 'employees', 'water_fee'], label='district', epsilon=1.0)
proba = m.predict_proba(view.assign(capital=1e6, employees=20, water_fee=5000).head(5))
out = {'classes': m.classes_, 'rows': m.record['training_rows'], 'shape': list(proba.shape),
       'sums': [round(float(s), 6) for s in proba.sum(axis=1)],
       'predicted': [str(p) for p in m.predict(view.assign(capital=1e6, employees=20,
                                                            water_fee=5000).head(3))]}
refusals = {}
for name, call in {
    'unbounded': lambda: sr.fit('linear_regression',
                                "SELECT industry, capital FROM enterprise_utilities",
                                features=['industry'], label='capital'),
    'identifier': lambda: sr.fit('kmeans', "SELECT phone FROM enterprise_utilities",
                                 features=['phone']),
    'join': lambda: sr.fit('kmeans', "SELECT capital FROM enterprise_utilities e JOIN "
                           "social_insurance s USING (enterprise_id)", features=['capital']),
}.items():
    try:
        call()
        refusals[name] = 'trained'
    except sr.broker.BrokerRefused as exc:
        refusals[name] = exc.status
out['refusals'] = refusals
json.dump(out, open('/out/fit.json', 'w'), ensure_ascii=False)
""",
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_trains_a_dp_model_broker_side(world: World, backend: str, runners) -> None:
    done = run_notebook_job(world, FITTER, backend, runners)
    assert done.status == "awaiting_review", done.failure
    home = world.domain.home
    got = json.loads((home.jobs / str(done.id) / "out" / "fit.json").read_text())
    assert got["refusals"] == {"unbounded": "denied", "identifier": "denied", "join": "denied"}
    assert got["shape"] == [5, len(got["classes"])] and got["sums"] == [1.0] * 5
    [model_job] = [j for j in children(world, done.id) if j.kind == "model"]
    assert model_job.status == "awaiting_review" and model_job.epsilon == 1.0
    assert model_job.required_reviews == 2  # water_fee is L3
    [summary] = model_job.gate["files"]
    assert summary["kind"] == "model" and summary["model"] == "logistic_regression"
    assert summary["bounds"]["water_fee"] == [0.0, 1_000_000.0]
    assert summary["training_rows"] == got["rows"] > 100
    record = DpModel.from_json(
        (home.jobs / str(model_job.id) / "candidate" / "model.json").read_text()
    )
    # the notebook's predictions are the released record's
    rows = [{"capital": 1e6, "employees": 20, "water_fee": 5000}] * 3
    assert [str(p) for p in record.predict(rows)] == got["predicted"]
    with world.domain.sessions() as session:
        spent = session.get(License, world.license_id).epsilon_spent
    assert spent == pytest.approx(1.0)  # the fit's ε, and nothing for the refusals


@pytest.mark.sandbox("bubblewrap")
def test_a_worker_serves_the_broker_and_never_claims_a_child(world: World) -> None:
    """Workers run notebooks with their broker too; a child job is run by its broker."""
    from jobs.worker import WorkerOptions, work_one

    settings = dataclasses.replace(world.domain.settings.job_settings(), backend="bubblewrap")
    d = world.domain
    with d.transaction() as session:
        job_id = submit_notebook(session, world.license_id, world.operator, RANKING, settings).id
    assert work_one(d.sessions, d.home, WorkerOptions("w"), settings) == (job_id, "recorded")
    [child] = children(world, job_id)
    assert child.status == "awaiting_review"
    # a queued child (as if its broker had not run it yet) is not a worker's to take
    with d.transaction() as session:
        parent = session.get(Job, job_id)
        assert parent is not None and parent.status == "awaiting_review"
        from jobs.submit import submit_sql

        queued = submit_sql(session, world.license_id, world.operator,
                            "SELECT district FROM enterprise_utilities", settings,
                            parent_id=job_id)  # fmt: skip
        assert queued.status == "queued"
    assert work_one(d.sessions, d.home, WorkerOptions("w"), settings) is None


# --- one notebook, two places: a synthetic twin at home, the broker in the domain -------

PORTABLE = notebook(
    "import pandas as pd\nimport sluice_runtime as sr",
    "d = sr.schema()\n"
    "t = sr.query('SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district')\n"
    "m = sr.fit('linear_regression', sql='SELECT employees, capital FROM enterprise_utilities',\n"
    "           features=['employees'], label='capital', epsilon=1.0)\n"
    "p = m.predict(pd.DataFrame({'employees': [10, 100]}))\n"
    "print('PORTABLE', 'enterprise_utilities' in d, sorted(t.columns), len(p))",
)
EXPECTED = "PORTABLE True ['district', 'n'] 2"


def _printed(executed: str) -> str:
    book = json.loads(executed)
    texts = [
        "".join(out.get("text", ""))
        for cell in book["cells"]
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    ]
    return "".join(texts)


def test_a_notebook_written_on_a_twin_runs_unchanged_in_the_sandbox(
    world: World, runners, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat
    from nbclient import NotebookClient

    from catalog import get_dataset
    from catalog.twin import twin
    from jobs.queries import job_dir

    with world.domain.transaction() as session:
        schema = get_dataset(session, "enterprise_utilities").schema()
    twin(schema, 500, seed=3).write(tmp_path / "twin")
    runtime = Path(__file__).resolve().parents[2] / "sandbox" / "runtime"
    monkeypatch.setenv("PYTHONPATH", str(runtime))
    monkeypatch.setenv("SLUICE_TWIN", str(tmp_path / "twin"))
    monkeypatch.delenv("SLUICE_BROKER", raising=False)
    at_home = nbformat.reads(PORTABLE, as_version=4)
    NotebookClient(at_home, kernel_name="python3", timeout=300, startup_timeout=120).execute()
    assert EXPECTED in _printed(nbformat.writes(at_home))

    monkeypatch.delenv("SLUICE_TWIN")
    done = run_notebook_job(world, PORTABLE, "bubblewrap", runners)
    executed = sorted((job_dir(world.domain.home, done) / "review").glob("*.ipynb"))
    assert executed, done.failure
    assert EXPECTED in _printed(executed[0].read_text("utf-8")), done.failure
    kinds = sorted(child.kind for child in children(world, done.id))
    assert kinds == ["model", "sql"]  # query() and fit() went through the broker
