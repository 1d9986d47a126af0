"""Notebook jobs: nbclient inside each backend, L1-only views, and the whole path
through submit, sandbox, gate and the CLI (every notebook file is a custom output)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import nbformat
import pytest

from core.errors import InvalidInput
from jobs.queries import get_job
from jobs.runner import run
from jobs.submit import submit_notebook
from sandbox import Runner
from tests.conftest import World, run_cli
from tests.sandbox.conftest import BACKENDS, log_of, run_job
from tests.sandbox.test_escape import host_processes_with


def notebook(*cells: str) -> str:
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_markdown_cell("# analysis")]
    book.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    return str(nbformat.writes(book))


# --- notebooks in each sandbox -------------------------------------------------------

GOOD = notebook(
    "from sluice_runtime import dataset\ndf = dataset('enterprise_utilities')\n"
    "print('ROWS', len(df))",
    "df.groupby('district').size().to_frame('n').to_parquet('/out/by_district.parquet')",
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
    assert manifest == {"tables": {}, "custom": ["by_district.parquet", "notes.csv"]}
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
    "from sluice_runtime import dataset\ndf = dataset('enterprise_utilities')",
    "assert set(df.columns) == {'district', 'industry'}, df.columns",  # L1 only
    "df.groupby('district').size().to_frame('n').to_parquet('/out/counts.parquet')",
    "open('/out/columns.txt', 'w').write(','.join(df.columns))",
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
    assert outputs == {"tables": {}, "custom": ["columns.txt", "counts.parquet"]}
    # held back, as custom outputs are: two reviewers and a written exception
    assert done.gate["custom"] == ["custom/columns.txt", "custom/counts.parquet"]
    columns = (world.domain.home.jobs / str(job_id) / "out" / "columns.txt").read_text()
    assert set(columns.split(",")) == {"district", "industry"}
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
        custom = get_job(session, shown["id"]).policy["notebook_outputs"]["custom"]
        assert custom == ["columns.txt", "counts.parquet"]
