"""The bubblewrap backend, with real bwrap and real DuckDB: results, walls, limits.

Walls are tested two ways, as DESIGN asks: the bwrap options are inspected, and
probes (Python run inside, allowed only for a test runner) look from within.
Without bwrap these tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import sandbox
from core.errors import InvalidInput
from sandbox import BubblewrapRunner, Limits, SandboxResult, SandboxRun, execute, get_runner
from sandbox.bubblewrap import unavailable_reason
from sandbox.runner import LOG_CAP, available_backends
from tests.conftest import require_component


@pytest.fixture(scope="module")
def runner() -> BubblewrapRunner:
    reason = unavailable_reason()
    require_component(reason is None, f"bubblewrap ({reason})")
    return BubblewrapRunner(allow_probes=True)


@pytest.fixture(scope="module")
def utilities(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    frame = pd.DataFrame(
        {
            "district": ["镇海区", "北仑区", "海曙区", "江北区"] * 500,
            "industry": ["制造", "批发", "软件", "餐饮", "物流"] * 400,
            "water_fee": [float((i * 7919) % 1000) for i in range(2000)],
        }
    )
    path = tmp_path_factory.mktemp("store") / "enterprise_utilities.parquet"
    frame.to_parquet(path)
    return path, frame


def run_job(
    runner: BubblewrapRunner,
    work: Path,
    spec: dict[str, Any],
    data: dict[str, Path] | None = None,
    **limits: int,
) -> SandboxResult:
    run = SandboxRun("test-job", work, data or {}, spec, Limits(**limits))
    return execute(runner, run)


def probe(runner: BubblewrapRunner, work: Path, code: str, **limits: int) -> SandboxResult:
    return run_job(runner, work, {"kind": "probe", "code": textwrap.dedent(code)}, **limits)


def log_of(result: SandboxResult) -> str:
    return result.log_path.read_text("utf-8", "replace")


# --- results -----------------------------------------------------------------


def test_sql_job_aggregates_a_mounted_dataset(runner, utilities, tmp_path: Path) -> None:
    path, frame = utilities
    sql = (
        "SELECT district, COUNT(*) AS n, SUM(water_fee) AS total, AVG(water_fee) AS mean "
        "FROM enterprise_utilities GROUP BY district"
    )
    result = run_job(runner, tmp_path, {"kind": "sql", "sql": sql}, {"enterprise_utilities": path})
    assert result.ok, log_of(result)
    assert result.exit_code == 0 and result.failure is None
    assert [p.name for p in result.outputs] == ["result.meta.json", "result.parquet"]
    got = pd.read_parquet(tmp_path / "out" / "result.parquet").set_index("district").sort_index()
    want = frame.groupby("district")["water_fee"].agg(["count", "sum", "mean"]).sort_index()
    assert got["n"].tolist() == want["count"].tolist()
    assert got["total"].tolist() == pytest.approx(want["sum"].tolist())
    assert got["mean"].tolist() == pytest.approx(want["mean"].tolist())
    meta = json.loads((tmp_path / "out" / "result.meta.json").read_text("utf-8"))
    assert meta["rows"] == 4
    assert [c["name"] for c in meta["columns"]] == ["district", "n", "total", "mean"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in result.outputs)


def test_query_error_fails_with_the_runtime_line(runner, utilities, tmp_path: Path) -> None:
    spec = {"kind": "sql", "sql": "SELECT phone FROM enterprise_utilities"}
    result = run_job(runner, tmp_path, spec, {"enterprise_utilities": utilities[0]})
    assert not result.ok and result.exit_code == 3
    assert result.failure is not None
    assert result.failure.startswith("error: sluice-runtime: query failed: Binder Error")
    assert result.outputs == [] and list((tmp_path / "out").iterdir()) == []


def test_a_notebook_spec_must_name_its_notebook(runner, tmp_path: Path) -> None:
    result = run_job(runner, tmp_path, {"kind": "notebook"})
    assert result.exit_code == 2
    assert result.failure is not None and "notebook must name the .ipynb file" in result.failure


def test_probes_need_a_runner_that_allows_them(runner, tmp_path: Path) -> None:
    strict = BubblewrapRunner()
    result = probe(strict, tmp_path, "open('/out/ran', 'w').write('yes')")
    assert result.exit_code == 5
    assert result.failure == "error: sluice-runtime: probe jobs are disabled in this sandbox"
    assert not (tmp_path / "out" / "ran").exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/job/spec.json')",
        "SELECT * FROM read_text('/runtime/sluice_runtime/__init__.py')",
        "SELECT * FROM glob('/data/*')",
        "COPY (SELECT * FROM enterprise_utilities) TO '/out/raw.csv'",
    ],
    ids=["passwd", "spec", "runtime-source", "glob", "copy-to-out"],
)
def test_sql_cannot_reach_past_its_datasets(runner, utilities, tmp_path: Path, sql: str) -> None:
    spec = {"kind": "sql", "sql": sql}
    result = run_job(runner, tmp_path, spec, {"enterprise_utilities": utilities[0]})
    assert not result.ok and result.exit_code == 3, result.failure
    assert list((tmp_path / "out").iterdir()) == []


# --- walls, seen from inside --------------------------------------------------

FACTS_PROBE = """
import ctypes, duckdb, json, os, socket, sys

facts = {}
def attempt(name, action):
    try:
        action()
        facts[name] = "ok"
    except Exception as exc:
        facts[name] = type(exc).__name__

def connect(address):
    with socket.create_connection(address, timeout=2):
        pass

def write(path):
    with open(path, "w") as handle:
        handle.write("x")

status = dict(line.split(":", 1) for line in open("/proc/self/status"))
facts["uid"] = [os.getuid(), os.geteuid(), os.getgid()]
facts["cap_eff"] = status["CapEff"].strip()
facts["cap_bnd"] = status["CapBnd"].strip()
facts["no_new_privs"] = status["NoNewPrivs"].strip()
facts["hostname"] = socket.gethostname()
facts["interfaces"] = [name for _, name in socket.if_nameindex()]
attempt("connect_host_port", lambda: connect(("127.0.0.1", HOST_PORT)))
attempt("connect_internet", lambda: connect(("1.1.1.1", 53)))
facts["root_entries"] = sorted(os.listdir("/"))
facts["etc_entries"] = sorted(os.listdir("/etc"))
facts["data_entries"] = sorted(os.listdir("/data"))
facts["host_paths_visible"] = [p for p in HOST_PATHS if os.path.exists(p)]
for name, path in [("root", "/x"), ("data", "/data/x"), ("job", "/job/x"), ("dev", "/dev/x"),
                   ("usr", "/usr/x"), ("python", "/python/x"), ("runtime", "/runtime/x")]:
    attempt("write_" + name, lambda path=path: write(path))
attempt("overwrite_dataset", lambda: open("/data/enterprise_utilities.parquet", "r+b"))
attempt("write_out", lambda: write("/out/probe.txt"))
attempt("write_tmp", lambda: write("/tmp/scratch"))
attempt("read_shadow", lambda: open("/etc/shadow").read())
facts["env"] = sorted(os.environ)
facts["pid1_environ_secret"] = b"SLUICE_SECRET" in open("/proc/1/environ", "rb").read()
facts["pid1_cmdline_host_path"] = any(
    p.encode() in open("/proc/1/cmdline", "rb").read() for p in HOST_PATHS)
facts["processes"] = len([p for p in os.listdir("/proc") if p.isdigit()])
facts["open_fds"] = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
facts["cwd_on_path"] = "" in sys.path or "/tmp" in sys.path
libc = ctypes.CDLL(None, use_errno=True)
facts["unshare_user"] = libc.unshare(0x10000000)
read_passwd = "SELECT * FROM read_csv('/etc/passwd')"
attempt("duckdb_read_passwd", lambda: duckdb.connect().sql(read_passwd).fetchall())
json.dump(facts, open("/out/facts.json", "w"))
"""


@pytest.fixture(scope="module")
def inside(runner, utilities, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """What a probe sees inside one sandbox, with a secret in the host env and a
    host socket listening on loopback."""
    work = tmp_path_factory.mktemp("facts") / "work"
    host_paths = [str(work.parent), str(Path.home()), "/root", "/work", str(Path.cwd())]
    code = FACTS_PROBE.replace("HOST_PATHS", repr(host_paths))
    with socket.socket() as listener, pytest.MonkeyPatch.context() as patch:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        patch.setenv("SLUICE_SECRET", "hunter2")
        port = str(listener.getsockname()[1])
        spec = {"kind": "probe", "code": code.replace("HOST_PORT", port)}
        data = {"enterprise_utilities": utilities[0]}
        result = run_job(runner, work, spec, data)
    assert result.ok, log_of(result)
    yield json.loads((work / "out" / "facts.json").read_text("utf-8"))


SANDBOX_ENV = [
    "HOME",
    "LANG",
    "LD_LIBRARY_PATH",
    "MALLOC_ARENA_MAX",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "PATH",
    "PWD",  # bwrap's --chdir sets it
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPATH",
    "SLUICE_ALLOW_PROBES",
    "TMPDIR",
]
ALLOWED_ROOT = {"bin", "data", "dev", "etc", "job", "lib", "lib64", "out", "proc", "python"}
ALLOWED_ROOT |= {"runtime", "sbin", "spill", "tmp", "usr", "venv"}

FACTS: dict[str, Any] = {
    "uid": [65534, 65534, 65534],
    "cap_eff": "0000000000000000",
    "cap_bnd": "0000000000000000",
    "no_new_privs": "1",
    "hostname": "sluice-sandbox",
    "interfaces": ["lo"],
    "connect_host_port": "ConnectionRefusedError",
    "connect_internet": "OSError",
    "etc_entries": ["ld.so.cache", "localtime"],
    "data_entries": ["enterprise_utilities.parquet"],
    "host_paths_visible": [],
    "write_root": "OSError",
    "write_data": "OSError",
    "write_job": "OSError",
    "write_dev": "OSError",
    "write_usr": "OSError",
    "write_python": "OSError",
    "write_runtime": "OSError",
    "overwrite_dataset": "OSError",
    "write_out": "ok",
    "write_tmp": "ok",
    "read_shadow": "FileNotFoundError",
    "env": SANDBOX_ENV,
    "pid1_environ_secret": False,
    "pid1_cmdline_host_path": False,
    "processes": 1,  # the runtime alone: it is pid 1 (--as-pid-1)
    "open_fds": [0, 1, 2, 3],  # 3 is the listing of /proc/self/fd itself
    "cwd_on_path": False,
    "unshare_user": -1,
    "duckdb_read_passwd": "IOException",
}


@pytest.mark.parametrize(("fact", "expected"), FACTS.items(), ids=list(FACTS))
def test_probe_sees_only_its_sandbox(inside: dict[str, Any], fact: str, expected: Any) -> None:
    assert inside[fact] == expected


def test_root_holds_only_the_mounted_folders(inside: dict[str, Any]) -> None:
    assert set(inside["root_entries"]) <= ALLOWED_ROOT
    assert {"data", "job", "out", "tmp", "runtime", "python"} <= set(inside["root_entries"])


def test_bwrap_options_name_each_wall(runner, utilities, tmp_path: Path) -> None:
    run = SandboxRun("cfg", tmp_path, {"enterprise_utilities": utilities[0]}, {"kind": "sql"})
    options = runner.options(run, pyvenv_fd=3, info_fd=4)
    for flag in ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent"]:
        assert flag in options
    for flag in ["--as-pid-1"]:
        assert flag in options
    for flag in ["--new-session", "--clearenv", "--share-net", "--dev-bind", "--bind-try"]:
        assert (flag in options) == (flag in {"--new-session", "--clearenv"})
    pairs = list(zip(options, options[1:], strict=False))
    assert ("--uid", "65534") in pairs and ("--gid", "65534") in pairs
    assert ("--cap-drop", "ALL") in pairs and ("--remount-ro", "/") in pairs
    assert ("--remount-ro", "/proc") in pairs
    writable = [options[i + 2] for i, flag in enumerate(options) if flag == "--bind"]
    assert writable == ["/out", "/spill"]  # /spill: DuckDB's, bounded by the spill quota
    spill = options[options.index("/spill") - 1]
    assert spill == str(tmp_path / "spill")  # the job's own folder, never shared
    sources = {options[i + 1] for i, f in enumerate(options) if f in {"--bind", "--ro-bind"}}
    assert not sources & {"/", "/etc", "/root", "/home", "/work", str(Path.home())}


# --- limits -------------------------------------------------------------------


def host_processes_with(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


def test_wall_time_kills_the_whole_job(runner, tmp_path: Path) -> None:
    code = """
    import subprocess
    for _ in range(3):
        subprocess.Popen(["sleep", "987.6543"])
    while True:
        pass
    """
    result = probe(runner, tmp_path, code, wall_seconds=1)
    assert result.failure == "limit:wall_seconds" and result.exit_code is None
    assert 1 <= result.seconds < 10  # generous: CI hosts are busy
    assert host_processes_with("987.6543") == []


def test_cpu_time(runner, tmp_path: Path) -> None:
    result = probe(runner, tmp_path, "while True: pass", cpu_seconds=1, wall_seconds=30)
    assert result.failure == "limit:cpu_seconds", log_of(result)


def test_every_rlimit_holds_inside_as_the_limits_say(runner, tmp_path: Path) -> None:
    """prlimit sets them before bwrap starts (no `preexec_fn`, so the host is vfork-ed):
    the job's own process reads each one, soft and hard, as `rlimits` gives it."""
    import resource

    from sandbox.bubblewrap import with_rlimits
    from sandbox.limits import rlimits

    limits = {"cpu_seconds": 37, "memory_mb": 777, "output_bytes": 3_000_000, "spill_mb": 2}
    code = """
    import json, resource
    names = ["RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_CORE"]
    seen = {n: resource.getrlimit(getattr(resource, n)) for n in names}
    open("/out/limits.json", "w").write(json.dumps(seen))
    """
    result = probe(runner, tmp_path, code, **limits)
    assert result.ok, log_of(result)
    seen = json.loads((tmp_path / "out" / "limits.json").read_text("utf-8"))
    wanted = rlimits(Limits(**limits))
    for name, pair in seen.items():
        assert tuple(pair) == wanted[getattr(resource, name)], name
    assert wanted[resource.RLIMIT_FSIZE] == (3_000_000, 3_000_000)  # past the 2 MB spill
    infinite = with_rlimits("prlimit", {resource.RLIMIT_CORE: (0, -1)}, ["bwrap"])
    assert infinite == ["prlimit", "--core=0:unlimited", "--", "bwrap"]


def test_memory_bomb_in_python(runner, tmp_path: Path) -> None:
    code = """
    hoard = []
    while True:
        hoard.append(bytearray(50 * 1024 * 1024))
    """
    result = probe(runner, tmp_path, code, memory_mb=512)
    assert result.failure == "limit:memory_mb", log_of(result)


def test_memory_bomb_in_sql(runner, tmp_path: Path) -> None:
    sql = "SELECT list(range || 'padding padding') FROM range(100000000)"
    result = run_job(runner, tmp_path, {"kind": "sql", "sql": sql}, memory_mb=1024)
    assert result.failure == "limit:memory_mb", log_of(result)
    assert list((tmp_path / "out").iterdir()) == []


def test_one_file_over_output_bytes(runner, tmp_path: Path) -> None:
    code = "open('/out/big.bin', 'wb').write(b'x' * 2_000_000)"
    result = probe(runner, tmp_path, code, output_bytes=1_000_000)
    assert result.failure == "limit:output_bytes", log_of(result)
    assert result.outputs == [] and list((tmp_path / "out").iterdir()) == []


def test_sql_result_over_output_bytes(runner, tmp_path: Path) -> None:
    sql = "SELECT range AS n, md5(range::VARCHAR) AS h FROM range(200000)"
    result = run_job(runner, tmp_path, {"kind": "sql", "sql": sql}, output_bytes=1_000_000)
    assert result.failure == "limit:output_bytes", log_of(result)
    assert list((tmp_path / "out").iterdir()) == []


def test_files_together_over_output_bytes(runner, tmp_path: Path) -> None:
    code = """
    for n in range(3):
        open(f'/out/part{n}.bin', 'wb').write(b'x' * 600_000)
    """
    result = probe(runner, tmp_path, code, output_bytes=1_000_000)
    assert result.failure == "limit:output_bytes"
    assert list((tmp_path / "out").iterdir()) == []


def test_too_many_files(runner, tmp_path: Path) -> None:
    code = """
    for n in range(5):
        open(f'/out/file{n}.csv', 'w').write('a,b')
    """
    result = probe(runner, tmp_path, code, output_files=3)
    assert result.failure == "limit:output_files"
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    "code",
    [
        "os.symlink('/etc/passwd', '/out/link')",
        "os.mkfifo('/out/pipe')",
        "os.mkdir('/out/folder'); open('/out/folder/hidden.csv', 'w').write('x')",
        "open('/out/a.csv', 'w').write('x'); os.link('/out/a.csv', '/out/b.csv')",
    ],
    ids=["symlink", "fifo", "directory", "hard-link"],
)
def test_only_regular_files_leave(runner, tmp_path: Path, code: str) -> None:
    result = probe(runner, tmp_path, f"import os\nopen('/out/ok.csv', 'w').write('1')\n{code}")
    assert result.failure == "rule:regular_files_only"
    assert result.outputs == []
    assert list((tmp_path / "out").iterdir()) == []


def test_setuid_bits_do_not_reach_the_host(runner, tmp_path: Path) -> None:
    code = "import os\nopen('/out/tool', 'w').write('#!/bin/sh')\nos.chmod('/out/tool', 0o4755)"
    result = probe(runner, tmp_path, code)
    assert result.ok, log_of(result)
    assert stat.S_IMODE((tmp_path / "out" / "tool").stat().st_mode) == 0o644


def test_fork_bomb_is_contained_and_the_host_survives(runner, tmp_path: Path) -> None:
    # Bounded at 2**11 processes by construction: pid_max is shared with the host,
    # so the test must not depend on the watchdog to stay polite.
    code = """
    import os
    for _ in range(11):
        try:
            os.fork()
        except OSError:
            pass
    os.execv("/usr/bin/sleep", ["sleep", "978.1234"])
    """
    result = probe(runner, tmp_path, code, processes=64, wall_seconds=30)
    assert result.failure == "limit:processes", log_of(result)
    assert result.seconds < 10
    assert host_processes_with("978.1234") == []
    assert subprocess.run(["true"], check=False).returncode == 0


def test_log_keeps_about_a_megabyte(runner, tmp_path: Path) -> None:
    result = probe(runner, tmp_path, "print('y' * 3_000_000)")
    assert result.ok
    assert LOG_CAP <= result.log_path.stat().st_size < LOG_CAP + 1000
    assert "log truncated" in log_of(result)


# --- choosing and preparing ---------------------------------------------------


def test_backends_and_runner_choice(runner) -> None:
    assert available_backends()["bubblewrap"] is None
    assert set(available_backends()) == {"bubblewrap", "docker"}
    assert isinstance(get_runner("bubblewrap"), BubblewrapRunner)
    with pytest.raises(InvalidInput, match="choose one of: bubblewrap, docker"):
        get_runner("firecracker")


def test_missing_bwrap_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert "bwrap is not installed" in (unavailable_reason() or "")


@pytest.mark.parametrize(
    ("data", "spec", "message"),
    [
        ({"bad name": None}, {"kind": "sql"}, "cannot be mounted"),
        ({"../up": None}, {"kind": "sql"}, "cannot be mounted"),
        ({"ok": "missing.parquet"}, {"kind": "sql"}, "is not a file"),
        ({}, {"kind": "sql", "datasets": {"x": "/etc/passwd"}}, "not mounted"),
    ],
    ids=["space", "traversal", "missing-file", "unmounted-dataset"],
)
def test_bad_runs_are_refused_before_start(
    runner, utilities, tmp_path: Path, data: dict, spec: dict, message: str
) -> None:
    data = {k: (tmp_path / v if v else utilities[0]) for k, v in data.items()}
    with pytest.raises(InvalidInput, match=message):
        execute(runner, SandboxRun("bad", tmp_path / "work", data, spec))


def test_a_used_work_dir_is_refused(runner, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.csv").write_text("x")
    with pytest.raises(InvalidInput, match="not empty"):
        execute(runner, SandboxRun("again", tmp_path, {}, {"kind": "notebook"}))


@pytest.mark.parametrize("field", ["cpu_seconds", "wall_seconds", "memory_mb", "processes"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_limits_must_be_positive_integers(field: str, value: object) -> None:
    with pytest.raises(InvalidInput, match=field):
        Limits(**{field: value})  # type: ignore[arg-type]


def test_limits_round_trip_as_a_dict() -> None:
    limits = Limits(cpu_seconds=5)
    assert Limits(**limits.to_dict()) == limits
    assert limits.to_dict()["output_files"] == 20


def test_public_surface() -> None:
    assert sandbox.__all__ == sorted(sandbox.__all__)
    assert all(hasattr(sandbox, name) for name in sandbox.__all__)
