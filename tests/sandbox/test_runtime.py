"""The runtime on its own, outside any sandbox: spec handling, exit codes, DuckDB lockdown.

These run without bubblewrap, so the second wall (DuckDB locked to its dataset
files) is tested even on hosts that cannot create namespaces.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from sandbox.runtime.sluice_runtime import JobFailed
from sandbox.runtime.sluice_runtime import sql as runtime_sql

RUNTIME = Path(__file__).resolve().parents[2] / "sandbox" / "runtime"
PACKAGE = RUNTIME / "sluice_runtime"


def make_utilities(folder: Path) -> tuple[Path, pd.DataFrame]:
    frame = pd.DataFrame(
        {
            "district": ["镇海区", "北仑区", "海曙区", "江北区"] * 50,
            "fee": [float(i % 37) for i in range(200)],
        }
    )
    path = folder / "utilities.parquet"
    frame.to_parquet(path)
    return path, frame


def run_runtime(
    tmp_path: Path, spec: dict, *, probes: bool = False
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run `python -m sluice_runtime` as the sandbox would, with /out replaced by a folder."""
    spec_path, out = tmp_path / "spec.json", tmp_path / "out"
    out.mkdir(exist_ok=True)
    spec_path.write_text(json.dumps(spec), "utf-8")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(RUNTIME)}
    if probes:
        env["SLUICE_ALLOW_PROBES"] = "1"
    argv = [sys.executable, "-s", "-P", "-m", "sluice_runtime", str(spec_path), "--out", str(out)]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    return proc, out


def test_sql_job_writes_result_and_meta(tmp_path: Path) -> None:
    data, frame = make_utilities(tmp_path)
    sql = "SELECT district, COUNT(*) AS n, SUM(fee) AS total FROM utilities GROUP BY district"
    spec = {"kind": "sql", "sql": sql, "datasets": {"utilities": str(data)}}
    proc, out = run_runtime(tmp_path, spec)
    assert proc.returncode == 0, proc.stderr
    result = pd.read_parquet(out / "result.parquet").set_index("district").sort_index()
    expected = frame.groupby("district")["fee"].agg(["count", "sum"]).sort_index()
    assert result["n"].tolist() == expected["count"].tolist()
    assert result["total"].tolist() == pytest.approx(expected["sum"].tolist())
    meta = json.loads((out / "result.meta.json").read_text("utf-8"))
    assert meta == {
        "rows": 4,
        "columns": [
            {"name": "district", "type": "VARCHAR"},
            {"name": "n", "type": "BIGINT"},
            {"name": "total", "type": "DOUBLE"},
        ],
    }


def test_empty_result_is_still_a_readable_file(tmp_path: Path) -> None:
    data, _ = make_utilities(tmp_path)
    sql = "SELECT district FROM utilities WHERE fee < 0"
    spec = {"kind": "sql", "sql": sql, "datasets": {"utilities": str(data)}}
    proc, out = run_runtime(tmp_path, spec)
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_parquet(out / "result.parquet")) == 0
    assert json.loads((out / "result.meta.json").read_text("utf-8"))["rows"] == 0


@pytest.mark.parametrize(
    ("spec", "code", "message"),
    [
        pytest.param(
            {"kind": "sql", "sql": "SELECT nope FROM utilities"},
            3,
            "sluice-runtime: query failed: Binder Error",
            id="sql-error",
        ),
        pytest.param(
            {"kind": "notebook"},
            2,
            "sluice-runtime: bad job spec: notebook must name the .ipynb file",
            id="notebook-without-file",
        ),
        pytest.param(
            {"kind": "probe", "code": "print('hi')"},
            5,
            "sluice-runtime: probe jobs are disabled in this sandbox",
            id="probe-without-permission",
        ),
        pytest.param({"kind": "shell"}, 2, "sluice-runtime: bad job spec: kind", id="bad-kind"),
        pytest.param(
            {"kind": "sql", "sql": "SELECT 1", "output": "../escape.parquet"},
            2,
            "sluice-runtime: bad job spec: output",
            id="output-outside-out",
        ),
        pytest.param(
            {"kind": "sql", "sql": "SELECT 1", "memory_limit": "1GB'; SET x='"},
            2,
            "sluice-runtime: bad job spec: memory_limit",
            id="memory-limit-injection",
        ),
    ],
)
def test_failures_are_one_line_and_an_exit_code(
    tmp_path: Path, spec: dict, code: int, message: str
) -> None:
    data, _ = make_utilities(tmp_path)
    if spec["kind"] == "sql":
        spec = {**spec, "datasets": {"utilities": str(data)}}
    proc, out = run_runtime(tmp_path, spec)
    assert proc.returncode == code
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(message), proc.stderr
    assert not (out / "result.parquet").exists()


def test_probe_runs_only_when_allowed(tmp_path: Path) -> None:
    code = "open('" + str(tmp_path / "out" / "probe.txt") + "', 'w').write('ran')"
    proc, out = run_runtime(tmp_path, {"kind": "probe", "code": code}, probes=True)
    assert proc.returncode == 0, proc.stderr
    assert (out / "probe.txt").read_text() == "ran"


@pytest.fixture(params=["opened for the job", "opened ahead"])
def locked(request: pytest.FixtureRequest, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """The job's locked connection: on a database opened with it, or on the one a warm
    sandbox opened before its job arrived (`open_ahead`), which must end up the same."""
    data, _ = make_utilities(tmp_path)
    (tmp_path / "other.parquet").write_bytes(data.read_bytes())
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    opened = runtime_sql.open_ahead() if request.param == "opened ahead" else None
    con = runtime_sql.connect({"utilities": str(data)}, threads=2, memory_limit="256MB")
    if opened is not None:  # taken once: a second connection is a database of its own
        assert con is opened and runtime_sql.connect({}) is not opened
    return con


def test_locked_connection_still_reads_its_views(locked: duckdb.DuckDBPyConnection) -> None:
    assert locked.sql("SELECT COUNT(*) FROM utilities").fetchall() == [(200,)]
    assert locked.sql("SELECT current_setting('threads')").fetchall() == [(2,)]
    [(limit,)] = locked.sql("SELECT current_setting('memory_limit')").fetchall()
    assert limit.startswith("244")  # 256 MB, shown in MiB


# Each statement tries to reach past the dataset files or to unlock DuckDB.
ESCAPES = {
    "read_csv-passwd": "SELECT * FROM read_csv('/etc/passwd')",
    "replacement-scan": "SELECT * FROM '/etc/passwd'",
    "read_text": "SELECT * FROM read_text('/etc/hostname')",
    "read_blob": "SELECT * FROM read_blob('/etc/passwd')",
    "read_json": "SELECT * FROM read_json('/etc/os-release')",
    "other-parquet": "SELECT * FROM read_parquet('{tmp}/other.parquet')",
    "other-csv": "SELECT * FROM read_csv('{tmp}/notes.csv')",
    "glob-dataset-dir": "SELECT * FROM read_parquet('{tmp}/*.parquet')",
    "glob-root": "SELECT * FROM glob('/*')",
    "copy-to": "COPY (SELECT 1) TO '{tmp}/copied.csv'",
    "attach-file": "ATTACH '{tmp}/x.duckdb'",
    "export": "EXPORT DATABASE '{tmp}/export'",
    "install": "INSTALL httpfs",
    "load": "LOAD httpfs",
    "url": "SELECT * FROM read_parquet('https://example.com/x.parquet')",
    "unlock-access": "SET enable_external_access = true",
    "widen-paths": "SET allowed_paths = ['/']",
    "unlock": "SET lock_configuration = false",
    "reset-paths": "RESET allowed_paths",
}


@pytest.mark.parametrize("sql", list(ESCAPES.values()), ids=list(ESCAPES))
def test_locked_connection_refuses_escapes(
    locked: duckdb.DuckDBPyConnection, tmp_path: Path, sql: str
) -> None:
    with pytest.raises(duckdb.Error):
        locked.sql(sql.format(tmp=tmp_path))
    assert not (tmp_path / "copied.csv").exists()
    assert not (tmp_path / "x.duckdb").exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1; SELECT 2",
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO utilities VALUES ('x', 1)",
        "PRAGMA version",
        "SET threads = 64",
        "COPY (SELECT 1) TO '/out/x.csv'",
        "SELECT FROM WHERE",
    ],
)
def test_only_one_select_runs(sql: str) -> None:
    with pytest.raises(JobFailed) as failed:
        runtime_sql.only_select(sql, duckdb.connect())
    assert failed.value.exit_code == 3
    assert failed.value.message.startswith("query failed:")


def test_with_clauses_are_selects() -> None:
    runtime_sql.only_select("WITH a AS (SELECT 1 AS x) SELECT x FROM a", duckdb.connect())


# What the runtime image holds (sandbox/runtime/requirements.txt) and their own imports.
# numpy comes with pandas; diffprivlib (and scikit-learn) for DP model training
# _duckdb: DuckDB 2's native module, part of the duckdb wheel (sql.py loads it alone)
ALLOWED_IMPORTS = {"duckdb", "_duckdb", "pyarrow", "pandas", "numpy", "diffprivlib", "nbformat",
                   "nbclient", "jupyter_client"}  # fmt: skip
# Local mode never runs in the sandbox: fit() there needs the package's `local` extra.
LOCAL_ONLY = {"local.py": {"diffprivlib"}}


@pytest.mark.parametrize("module", sorted(p.name for p in PACKAGE.glob("*.py")))
def test_runtime_imports_only_what_the_image_holds(module: str) -> None:
    """The sandbox mounts only this package: a Sluice import would fail there."""
    tree = ast.parse((PACKAGE / module).read_text("utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            allowed = top in sys.stdlib_module_names or top in ALLOWED_IMPORTS
            allowed = allowed or top in LOCAL_ONLY.get(module, set())
            assert allowed or top == "__future__", f"{module} imports {name}"


def test_local_only_imports_are_declared_in_the_local_extra() -> None:
    """pip install "sandbox/runtime[local]" brings what local mode imports."""
    import tomllib

    project = tomllib.loads((RUNTIME / "pyproject.toml").read_text("utf-8"))["project"]
    local = {dep.split(">")[0].split("=")[0] for dep in project["optional-dependencies"]["local"]}
    assert set().union(*LOCAL_ONLY.values()) <= local
    core = {dep.split(">")[0].split("=")[0] for dep in project["dependencies"]}
    assert core == {"duckdb", "pandas", "pyarrow"}


def test_a_sql_sandbox_starts_without_the_heavy_standard_modules(tmp_path: Path) -> None:
    """The runtime's start is most of a small job's CPU: `argparse` and `dataclasses`
    (with `inspect` and its parsers) cost ~20 ms of it, so the SQL path loads neither;
    a fresh interpreter started as bubblewrap starts it (`-S -s -P`, the packages on
    PYTHONPATH) still runs a job and loads only what it needs."""
    data, _ = make_utilities(tmp_path)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"kind": "sql", "sql": "SELECT COUNT(*) AS n FROM utilities",
                                "datasets": {"utilities": str(data)}}))  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    site = next(p for p in sys.path if p.endswith("site-packages"))
    script = (
        "import sys; from sluice_runtime import __main__ as m;"
        " code = m.main([sys.argv[1], '--out', sys.argv[2]]);"
        " print(code, ' '.join(sorted({n.split('.')[0] for n in sys.modules})))"
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-s", "-P", "-c", script, str(spec), str(out)],
        env={"PYTHONPATH": f"{RUNTIME}:{site}", "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    code, loaded = proc.stdout.split(" ", 1)
    assert code == "0", proc.stderr
    assert pd.read_parquet(out / "result.parquet")["n"].tolist() == [200]
    heavy = {"argparse", "dataclasses", "inspect", "duckdb", "pyarrow", "pandas"}
    assert heavy.isdisjoint(loaded.split()), heavy & set(loaded.split())
    assert "_duckdb" in loaded.split()


@pytest.mark.parametrize(
    ("argv", "wrong"),
    [([], "expected one SPEC, got 0"), (["a", "b"], "expected one SPEC, got 2"),
     (["s", "--out"], "--out needs a value"), (["s", "--verbose"], "unknown option --verbose")],
)  # fmt: skip
def test_bad_arguments_are_one_line_and_exit_2(tmp_path: Path, argv: list[str], wrong: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-s", "-P", "-m", "sluice_runtime", *argv],
        env={**os.environ, "PYTHONPATH": str(RUNTIME)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"sluice-runtime: {wrong} (")
