"""Warm bubblewrap sandboxes: the same result as cold, one job each, nothing shared.

Each test starts its own pool of real bwrap sandboxes and runs real jobs in them;
probes (Python run inside, allowed only for a test runner) look from within for
what another job left or holds.
"""

from __future__ import annotations

import json
import os
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sandbox import BubblewrapRunner, Limits, SandboxResult, SandboxRun, execute
from sandbox.bubblewrap import unavailable_reason
from sandbox.warm_pool import WarmPool
from tests.conftest import require_component
from tests.processes import running

pytestmark = pytest.mark.sandbox
LIMITS = Limits(wall_seconds=60, cpu_seconds=2)


@pytest.fixture(scope="module")
def bwrap() -> BubblewrapRunner:
    reason = unavailable_reason()
    require_component(reason is None, f"bubblewrap ({reason})")
    return BubblewrapRunner(allow_probes=True)


@pytest.fixture
def pool(bwrap: BubblewrapRunner, tmp_path: Path) -> Iterator[WarmPool]:
    started = WarmPool(bwrap, LIMITS, size=2, folder=tmp_path / "warm").start()
    assert started.wait_ready(2)
    yield started
    started.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("store")
    files = {}
    for name, base in (("job_a_data", 0), ("job_b_data", 1000)):
        frame = pd.DataFrame(
            {"district": ["镇海区", "北仑区"] * 50, "fee": range(base, base + 100)}
        )
        files[name] = folder / f"{name}.parquet"
        frame.to_parquet(files[name])
    return files


def job(work: Path, spec: dict[str, Any], data: dict[str, Path] | None = None) -> SandboxRun:
    return SandboxRun(work.name, work, data or {}, spec, LIMITS)


def probe(work: Path, code: str, data: dict[str, Path] | None = None) -> SandboxRun:
    return job(work, {"kind": "probe", "code": textwrap.dedent(code)}, data)


def said(result: SandboxResult) -> dict[str, Any]:
    """The probe's last line on stdout, a JSON object."""
    lines = [
        line for line in result.log_path.read_text("utf-8").splitlines() if line.startswith("{")
    ]
    return dict(json.loads(lines[-1]))


LOOK = """
import json, os
def others():
    mine = os.getpid()
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != mine)
with open("/proc/1/cmdline", "rb") as f:
    warm = b"--await" in f.read()
seen = {"warm": warm, "ns": os.readlink("/proc/self/ns/pid"), "procs": others()}
for folder in ("data", "tmp", "out"):
    seen[folder] = sorted(os.listdir("/" + folder))
print(json.dumps(seen))
"""


def test_a_warm_sandbox_gives_the_cold_result(
    bwrap: BubblewrapRunner, store: dict[str, Path], tmp_path: Path
) -> None:
    sql = {"kind": "sql", "sql": "SELECT district, SUM(fee) AS s FROM job_a_data GROUP BY 1"}
    data = {"job_a_data": store["job_a_data"]}
    cold = execute(bwrap, job(tmp_path / "cold", sql, data))
    pool = WarmPool(bwrap, LIMITS, size=1, folder=tmp_path / "warm").start()
    try:
        assert pool.wait_ready(1)
        warm = execute(bwrap, job(tmp_path / "warm-job", sql, data))
        assert pool.handed == 1
    finally:
        pool.close()
    assert cold.ok and warm.ok, (cold.failure, warm.failure)
    frames = [
        pd.read_parquet(r.log_path.parent.parent / "out" / "result.parquet").sort_values("district")
        for r in (cold, warm)
    ]
    pd.testing.assert_frame_equal(
        frames[0].reset_index(drop=True), frames[1].reset_index(drop=True)
    )


def test_a_job_sees_neither_the_data_nor_the_files_of_a_job_running_beside_it(
    bwrap: BubblewrapRunner, pool: WarmPool, store: dict[str, Path], tmp_path: Path
) -> None:
    holder = """
    import time
    open("/out/b_secret.txt", "w").write("b's output")
    open("/tmp/b_scratch", "w").write("b's scratch")
    time.sleep(4)
    """
    b_run = probe(tmp_path / "b", holder, {"job_b_data": store["job_b_data"]})
    b = bwrap.start(b_run)
    try:
        a = execute(bwrap, probe(tmp_path / "a", LOOK, {"job_a_data": store["job_a_data"]}))
        seen = said(a)
        assert seen["warm"] and pool.handed == 2
        assert seen["data"] == ["job_a_data.parquet"]  # B's dataset is not there
        assert seen["out"] == [] and "b_scratch" not in seen["tmp"]
        assert seen["procs"] == []  # nothing but itself: B's processes are out of sight
    finally:
        b_result = bwrap.wait(b)
        bwrap.cleanup(b)
    assert b_result.ok and [p.name for p in b_result.outputs] == ["b_secret.txt"]


def test_a_sandbox_is_used_once_what_a_job_leaves_dies_with_it(
    bwrap: BubblewrapRunner, pool: WarmPool, tmp_path: Path
) -> None:
    # A duration no other process on the host would choose: the check below scans
    # the whole host, so a plain `sleep 300` elsewhere would read as a leak.
    duration = f"300.{uuid.uuid4().int % 10**9:09d}"
    leave = f"""
    import json, os, subprocess
    open("/tmp/left_behind", "w").write("x")
    subprocess.Popen(["sleep", "{duration}"], start_new_session=True)
    print(json.dumps({{"ns": os.readlink("/proc/self/ns/pid")}}))
    """
    first = execute(bwrap, probe(tmp_path / "first", leave))
    second = execute(bwrap, probe(tmp_path / "second", LOOK))
    assert first.ok and second.ok
    after = said(second)
    assert after["warm"] and after["ns"] != said(first)["ns"]
    assert "left_behind" not in after["tmp"] and after["procs"] == []
    assert not _sleepers(duration)  # the background sleep died with its job


def test_a_sandbox_whose_job_crashed_is_not_reused(
    bwrap: BubblewrapRunner, pool: WarmPool, tmp_path: Path
) -> None:
    crash = """
    import ctypes, json, os
    print(json.dumps({"ns": os.readlink("/proc/self/ns/pid")}), flush=True)
    ctypes.string_at(0)  # a real segfault (pid 1 ignores a SIGSEGV sent by kill)
    """
    handle = bwrap.start(probe(tmp_path / "crash", crash))
    assert handle.warm is not None
    runtime_pid = handle.warm.child_pid  # type: ignore[attr-defined]
    crashed = bwrap.wait(handle)
    bwrap.cleanup(handle)
    assert not crashed.ok and not running(runtime_pid)
    assert not handle.warm.path.exists()  # type: ignore[attr-defined]
    after = execute(bwrap, probe(tmp_path / "after", LOOK))
    assert said(after)["warm"] and said(after)["ns"] != said(crashed)["ns"]


def test_the_pool_refills_after_each_job(
    bwrap: BubblewrapRunner, pool: WarmPool, tmp_path: Path
) -> None:
    for n in range(3):
        assert execute(bwrap, probe(tmp_path / f"job{n}", "print('ok')")).ok
        assert pool.wait_ready(2)  # a new sandbox replaces the one just used
    assert pool.handed == 3 and pool.started == 2 + 3


def test_cpu_and_wall_limits_count_from_hand_over(
    bwrap: BubblewrapRunner, pool: WarmPool, tmp_path: Path
) -> None:
    """The runtime spent CPU loading DuckDB before the job came; the job still gets
    its whole allowance (2 s), and no more."""
    burn = """
    import time
    start = time.process_time()
    while time.process_time() - start < {seconds}:
        pass
    """
    within = execute(bwrap, probe(tmp_path / "within", burn.format(seconds=1.7)))
    assert within.ok, within.failure
    beyond = execute(bwrap, probe(tmp_path / "beyond", burn.format(seconds=30)))
    assert beyond.failure is not None and str(beyond.failure) == "limit:cpu_seconds"


def test_closing_the_pool_leaves_no_bwrap_process(bwrap: BubblewrapRunner, tmp_path: Path) -> None:
    pool = WarmPool(bwrap, LIMITS, size=2, folder=tmp_path / "warm").start()
    assert pool.wait_ready(2)
    sandboxes = _bwrap_children()
    assert len(sandboxes) >= 2
    pool.close()
    assert not [pid for pid in sandboxes if running(pid)]
    assert _bwrap_children() == []
    assert not (tmp_path / "warm").exists() or not any((tmp_path / "warm").iterdir())


def _bwrap_children() -> list[int]:
    """This process's live bwrap children, from a process listing (/proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and running(int(entry)):
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            comm, rest = stat.split(b" (", 1)[1].rsplit(b") ", 1)
            if comm == b"bwrap" and int(rest.split()[1]) == os.getpid():
                found.append(int(entry))
    return found


def _sleepers(duration: str) -> list[int]:
    """Live `sleep DURATION` processes on the host (what the first job left running)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and running(int(entry)):
                if (
                    Path(f"/proc/{entry}/cmdline").read_bytes()
                    == f"sleep\x00{duration}\x00".encode()
                ):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def test_the_service_keeps_a_warm_pool_and_its_shutdown_kills_it(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from service.api import create_app
    from service.domain import init_domain
    from service.settings import Settings

    require_component(unavailable_reason() is None, "bubblewrap")
    settings = Settings(
        home=tmp_path / "home", sandbox_backend="bubblewrap", sandbox_slots=2, sandbox_pool_size=2
    )
    init_domain(settings)
    app = create_app(settings)
    with TestClient(app):
        pool = app.state.warm_pool
        assert isinstance(pool, WarmPool) and pool.wait_ready(2)
        sandboxes = _bwrap_children()
        assert len(sandboxes) >= 2
    assert not [pid for pid in sandboxes if running(pid)]
    assert _bwrap_children() == []
