"""Notebook jobs: the table helper, nbclient inside each backend, and the whole path
through submit, sandbox, gate and the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from core.errors import InvalidInput
from gate.disclosure import DisclosureRules
from gate.step import candidate_table
from gate.tables import CellSpec, check_table
from jobs.queries import get_job
from jobs.runner import run
from jobs.submit import submit_notebook
from sandbox import Runner
from sandbox.runtime.sluice_runtime import tables
from tests.conftest import World, run_cli
from tests.sandbox.conftest import BACKENDS, log_of, run_job
from tests.sandbox.test_escape import host_processes_with


def notebook(*cells: str) -> str:
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_markdown_cell("# analysis")]
    book.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    return str(nbformat.writes(book))


# --- the table helper, in-process ------------------------------------------------


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "unit": [f"u{i % 60}" for i in range(600)],
            "district": [["镇海区", "北仑区", "海曙区"][i % 3] for i in range(600)],
            "fee": rng.uniform(0, 100, 600).round(2),
        }
    )


def test_table_computes_values_and_companions(frame, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_OUT", str(tmp_path))
    shown = tables.table(frame, "district", unit="unit", sums="fee", means=["fee"], name="t")
    assert list(shown.columns) == ["district", "n", "sum_fee", "mean_fee"]
    written = pd.read_parquet(tmp_path / "t.parquet").set_index("district")
    grouped = frame.groupby("district")
    assert written["n"].to_dict() == grouped.size().to_dict()
    assert written["__n"].to_dict() == grouped["unit"].nunique().to_dict()
    assert written["sum_fee"].to_dict() == pytest.approx(grouped["fee"].sum().to_dict())
    assert written["mean_fee"].to_dict() == pytest.approx(grouped["fee"].mean().to_dict())
    per_unit = frame.groupby(["district", "unit"])["fee"].sum()
    for district, contributions in per_unit.groupby(level=0):
        top = sorted(contributions.abs(), reverse=True)
        row = written.loc[district]
        assert row["__top1__sum_fee"] == pytest.approx(top[0])
        assert row["__top2__sum_fee"] == pytest.approx(top[1])
        assert row["__abs__sum_fee"] == pytest.approx(sum(top))
        assert row["__cnt__mean_fee"] == grouped["fee"].count()[district]
    note = json.loads((tmp_path / ".sluice-table-t.json").read_text())
    assert note["cells"] == [
        {"column": "district", "kind": "group_key"},
        {"column": "n", "kind": "count"},
        {"column": "sum_fee", "kind": "sum"},
        {"column": "mean_fee", "kind": "avg"},
    ]


def test_helper_tables_are_gate_ready(frame, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_OUT", str(tmp_path))
    small = pd.concat([frame, pd.DataFrame({"unit": ["lone"], "district": ["慈溪市"], "fee": [5]})])
    tables.table(small, "district", unit="unit", sums=["fee"], name="t")
    note = json.loads((tmp_path / ".sluice-table-t.json").read_text())
    cells = [CellSpec(c["column"], c["kind"]) for c in note["cells"]]
    result = check_table(pd.read_parquet(tmp_path / "t.parquet"), cells, DisclosureRules())
    assert {f.rule for f in result.findings} >= {"threshold"}
    assert "missing_companion" not in {f.rule for f in result.findings}
    # its key is not a declared public category, so the one-unit group goes whole
    assert "慈溪市" not in set(result.table["district"]) and result.removed_rows == 1


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"by": "district", "unit": "district"}, ValueError),
        ({"by": "nope", "unit": "unit"}, KeyError),
        ({"by": "district", "unit": "unit", "sums": ["district"]}, TypeError),
        ({"by": "district", "unit": "unit", "name": "../x"}, ValueError),
        ({"by": "district", "unit": "unit", "count": None}, ValueError),
    ],
    ids=["unit-as-key", "missing-column", "text-measure", "bad-name", "nothing"],
)
def test_table_refuses_bad_requests(frame, tmp_path, monkeypatch, options, error) -> None:
    monkeypatch.setenv("SLUICE_OUT", str(tmp_path))
    by = options.pop("by")
    with pytest.raises(error):
        tables.table(frame, by, **options)
    assert list(tmp_path.iterdir()) == []


# --- notebooks in each sandbox -------------------------------------------------------

GOOD = notebook(
    "from sluice_runtime import dataset, table\ndf = dataset('enterprise_utilities')\n"
    "print('ROWS', len(df))",
    "table(df, ['district'], unit='enterprise_id', sums=['water_fee'], name='by_district')",
    "open('/out/notes.csv', 'w').write('free text\\n')",
    "import subprocess\nsubprocess.Popen(['sleep', '977.2468'])",
)


def run_notebook(runner: Runner, work: Path, source: str, data: dict, **limits: int):
    spec = {"kind": "notebook", "notebook": "/job/notebook.ipynb"}
    files = {"notebook.ipynb": source.encode()}
    return run_job(runner, work, spec, data, files, **limits)


def test_notebook_outputs_are_files_in_out(runner, utilities_file, tmp_path) -> None:
    result = run_notebook(runner, tmp_path, GOOD, {"enterprise_utilities": utilities_file})
    assert result.ok, log_of(result)
    assert [p.name for p in result.outputs] == ["by_district.parquet", "notes.csv"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "by_district.parquet",
        "notes.csv",
    ]
    manifest = json.loads((tmp_path / "review" / "manifest.json").read_text())
    assert list(manifest["tables"]) == ["by_district.parquet"]
    assert manifest["custom"] == ["notes.csv"]
    executed = nbformat.read(tmp_path / "review" / "notebook.ipynb", as_version=4)
    printed = "".join(
        o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "ROWS 2000" in printed  # cell outputs stay with the reviewers, never in /out
    assert host_processes_with("977.2468") == []  # what the notebook started is gone


def test_a_failing_cell_fails_the_job(runner, utilities_file, tmp_path) -> None:
    source = notebook("open('/out/partial.csv', 'w').write('x')", "1 / 0")
    result = run_notebook(runner, tmp_path, source, {"enterprise_utilities": utilities_file})
    assert not result.ok and result.exit_code == 7
    assert result.failure is not None and "ZeroDivisionError" in result.failure
    assert list((tmp_path / "out").iterdir()) == []
    assert (tmp_path / "review" / "notebook.ipynb").exists()


def test_a_forged_manifest_does_not_count(runner, tmp_path) -> None:
    source = notebook(
        "import json\nopen('/out/raw.csv', 'w').write('a\\n1\\n')\n"
        "forged = {'tables': {'raw.csv': {'cells': []}}}\n"
        "json.dump(forged, open('/out/.sluice-manifest.json', 'w'))\n"
        "json.dump({'file': 'raw.csv', 'cells': [{'column': 'a', 'kind': 'group_key'}],"
        " 'unit': 'a', 'by': ['a']}, open('/out/.sluice-table-raw.json', 'w'))"
    )
    result = run_notebook(runner, tmp_path, source, {})
    assert result.ok, log_of(result)
    manifest = json.loads((tmp_path / "review" / "manifest.json").read_text())
    assert manifest == {"tables": {}, "custom": ["raw.csv"]}


def test_notebook_memory_bomb(runner, tmp_path) -> None:
    source = notebook("hoard = []\nwhile True:\n    hoard.append(bytearray(32 * 1024 * 1024))")
    result = run_notebook(runner, tmp_path, source, {}, memory_mb=512)
    assert result.failure == "limit:memory_mb", log_of(result)


# --- the whole path ------------------------------------------------------------------

VIEW_CHECK = notebook(
    "from sluice_runtime import dataset, table\ndf = dataset('enterprise_utilities')",
    "assert 'water_fee' not in df.columns and 'phone' not in df.columns, df.columns\n"
    "assert {'district', 'capital', 'enterprise_id'} <= set(df.columns)\n"
    "assert df['capital'].between(0, 100000000).all()",
    "table(df, 'district', unit='enterprise_id', count='n', means=['capital'], name='capital')",
    "open('/out/columns.txt', 'w').write(','.join(df.columns) + '\\n' + "
    "','.join(df['enterprise_id'].head(50)))",
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_notebook_job_reaches_review(world: World, backend: str, runners) -> None:
    runners[backend]  # the backend is here, or the test skips/fails as require_component says
    settings = dataclasses.replace(world.domain.settings.job_settings(), backend=backend)
    with world.domain.transaction() as session:
        job = submit_notebook(session, world.license_id, world.operator, VIEW_CHECK, settings)
        assert job.status == "queued" and job.epsilon == 0 and job.required_reviews == 2
        job_id = job.id
    done = run(world.domain.sessions, world.domain.home, job_id, settings)
    assert done.status == "awaiting_review", done.failure
    assert done.resources["backend"] == backend
    outputs = done.policy["notebook_outputs"]
    assert list(outputs["tables"]) == ["capital.parquet"] and outputs["custom"] == ["columns.txt"]
    table = candidate_table(world.domain.home, done, "capital.csv")
    assert list(table.columns) == ["district", "n", "mean_capital"]
    assert done.gate["custom"] == ["custom/columns.txt"]  # held back, as custom outputs are
    store = pd.read_parquet(world.domain.home.store / "enterprise_utilities" / "data.parquet")
    columns, tokens = (
        (world.domain.home.jobs / str(job_id) / "out" / "columns.txt").read_text().split("\n")
    )
    assert "water_fee" not in columns.split(",")
    assert not set(tokens.split(",")) & set(store["enterprise_id"])  # per-job tokens
    assert not (world.domain.home.jobs / str(job_id) / "views").exists()


def test_bad_notebooks_are_refused(world: World) -> None:
    settings = world.domain.settings.job_settings()
    for text, message in [("{not json", "not a valid Jupyter notebook"), (notebook(), "no code")]:
        with pytest.raises(InvalidInput, match=message), world.domain.transaction() as session:
            submit_notebook(session, world.license_id, world.operator, text, settings)


@pytest.mark.slow
@pytest.mark.sandbox
def test_cli_submits_a_notebook(world: World, tmp_path: Path) -> None:
    path = tmp_path / "analysis.ipynb"
    path.write_text(VIEW_CHECK)
    result = run_cli(
        "jobs", "submit", "--license", str(world.license_id), "--notebook", str(path),
        "--wait", "--json", home=world.domain.home.root,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["status"] == "awaiting_review" and shown["kind"] == "notebook"
    with world.domain.transaction() as session:
        assert get_job(session, shown["id"]).policy["notebook_outputs"]["custom"] == ["columns.txt"]


FORGED_TABLE = notebook(
    "from sluice_runtime import dataset, table\nimport pandas as pd\n"
    "df = dataset('enterprise_utilities')",
    "table(df, 'district', unit='enterprise_id', count='n', name='honest')",
    # a hand-made file that looks gate-ready: its __n claims a crowd behind every row
    "pd.DataFrame({'district': df['district'].head(5), 'n': 1, '__n': 1000})"
    ".to_parquet('/out/forged.parquet')",
)


@pytest.mark.sandbox("bubblewrap")
def test_a_hand_written_table_is_custom_not_gated_as_a_table(world: World) -> None:
    settings = dataclasses.replace(world.domain.settings.job_settings(), backend="bubblewrap")
    with world.domain.transaction() as session:
        job_id = submit_notebook(
            session, world.license_id, world.operator, FORGED_TABLE, settings
        ).id
    done = run(world.domain.sessions, world.domain.home, job_id, settings)
    assert done.status == "awaiting_review", done.failure
    assert list(done.policy["notebook_outputs"]["tables"]) == ["honest.parquet"]
    assert "custom/forged.parquet" in done.gate["custom"]  # withheld without two exceptions
