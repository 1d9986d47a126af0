"""`pip install sandbox/runtime` on an operator's machine, then a real notebook against a twin.

A fresh virtual environment gets the package (offline, no build isolation, no
dependencies: the shared environment's duckdb, pandas and diffprivlib stand in for
what an operator would install), and nbclient runs a notebook in a real kernel of
that environment, with no path to Sluice's source.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from catalog.schema import load_schema
from catalog.synthetic import ENTERPRISE_SCHEMA, SOCIAL_SECURITY_SCHEMA
from catalog.twin import twin

pytestmark = pytest.mark.slow  # a venv, a pip install and a kernel: about half a minute

RUNTIME = Path(__file__).resolve().parents[2] / "sandbox" / "runtime"
CELLS = [
    "import json, os, sluice_runtime\nsluice_runtime.use_twin(os.environ['TWIN'])",
    "public = sluice_runtime.dataset('enterprise_utilities')\n"
    "dictionary = sluice_runtime.schema()\n"
    "bounds = dictionary['enterprise_utilities']['columns']['water_fee']['bounds']",
    "ranked = sluice_runtime.query(\n"
    "    'SELECT district, COUNT(*) AS n, AVG(water_fee) AS fee FROM enterprise_utilities '\n"
    "    'JOIN social_insurance USING (enterprise_id) GROUP BY district'\n"
    ")\nranked['rank'] = ranked['fee'].rank(ascending=False).astype(int)\n"
    "ranked = ranked.sort_values('rank')",
    "sql = ('SELECT capital, employees, CAST(water_fee > 200000 AS INTEGER) AS big '\n"
    "       'FROM enterprise_utilities')\n"
    "model = sluice_runtime.fit('logistic_regression', sql=sql,\n"
    "                           features=['capital', 'employees'], label='big', epsilon=1.0)\n"
    "holdout = sluice_runtime.query(sql + ' LIMIT 100')\n"
    "proba = model.predict_proba(holdout)",
    "import sys\nSLUICE = {'core', 'audit_log', 'catalog', 'operators', 'policies', 'gate',\n"
    "          'sandbox', 'jobs', 'products', 'service'}\n"
    "sluice = sorted(m for m in sys.modules if m.split('.')[0] in SLUICE)\n"
    "json.dump({'module': sluice_runtime.__file__, 'datasets': sorted(dictionary),\n"
    "           'bounds': bounds, 'districts': ranked['district'].tolist(),\n"
    "           'ranks': ranked['rank'].tolist(), 'predictions': len(model.predict(holdout)),\n"
    "           'proba_rows': [round(float(p), 6) for p in proba.sum(axis=1)][:5],\n"
    "           'rows': model.rows, 'sluice': sluice, 'public': list(public.columns)},\n"
    "          open(os.environ['RESULT'], 'w'))",
]
RUN_NOTEBOOK = """
import sys, nbformat
from nbclient import NotebookClient
notebook = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(notebook, kernel_name="python3", timeout=300, startup_timeout=120).execute()
"""


def make_venv(where: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(where)],
        check=True,
        timeout=300,
    )
    python = where / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the runtime's dependencies, as this test's own environment has them
    (Path(purelib) / "shared-dependencies.pth").write_text(sysconfig.get_paths()["purelib"])
    return python


def test_installed_runtime_runs_a_notebook_against_a_twin(tmp_path: Path) -> None:
    twin_folder = tmp_path / "twin"
    for schema in (ENTERPRISE_SCHEMA, SOCIAL_SECURITY_SCHEMA):
        twin(load_schema(schema), 3000, seed=11).write(twin_folder)
    python = make_venv(tmp_path / "venv")
    env = {
        "PATH": f"{python.parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TWIN": str(twin_folder),
        "RESULT": str(tmp_path / "result.json"),
        "PIP_NO_INDEX": "1",
    }
    subprocess.run(
        [python, "-m", "pip", "install", "--no-build-isolation", "--no-deps", str(RUNTIME)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nbformat.write(notebook, tmp_path / "develop.ipynb")
    ran = subprocess.run(
        [python, "-c", RUN_NOTEBOOK, str(tmp_path / "develop.ipynb")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["module"].startswith(str(tmp_path / "venv"))  # the installed copy
    assert result["sluice"] == []  # no Sluice module was loaded in the kernel
    assert result["datasets"] == ["enterprise_utilities", "social_insurance"]
    assert result["bounds"] == [0.0, 1000000.0]
    assert result["public"] == ["district", "industry"]
    assert sorted(result["districts"]) == sorted(
        load_schema(ENTERPRISE_SCHEMA).column("district").categories  # type: ignore[union-attr, arg-type]
    )
    assert result["ranks"] == sorted(result["ranks"]) and result["ranks"][0] == 1
    assert result["predictions"] == 100 and result["rows"] == 3000
    assert result["proba_rows"] == [1.0] * 5


SLUICE = ("core", "audit_log", "catalog", "operators", "policies", "gate", "sandbox", "jobs")
SLUICE += ("products", "service")


def test_the_runtime_loads_no_sluice_module() -> None:
    """Every runtime module imported, the interpreter holds no Sluice package."""
    code = (
        "import sluice_runtime, sluice_runtime.local, sluice_runtime.sql, sluice_runtime.tables; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {SLUICE!r}))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ran = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(RUNTIME)!r}); {code}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=RUNTIME,
    )
    assert ran.returncode == 0 and ran.stdout.strip() == "[]", ran.stderr
