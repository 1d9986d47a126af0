"""The docker backend: its container configuration as docker reports it, the warm pool,
removal after each job, and logs kept with the job."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from sandbox import Limits, SandboxRun, docker_backend, execute
from sandbox.docker_backend import DockerRunner, remove_leftovers
from sandbox.pool import (
    HOME_LABEL,
    LABEL,
    claim_slot,
    home_scope,
    ready_slots,
    scope_containers,
)
from tests.sandbox.conftest import docker_runner, log_of

pytestmark = [pytest.mark.sandbox("docker"), pytest.mark.docker]


@pytest.fixture(scope="module")
def docker(tmp_path_factory: pytest.TempPathFactory) -> DockerRunner:
    runner = docker_runner(tmp_path_factory.mktemp("pool"))
    assert isinstance(runner, DockerRunner)
    return runner


def containers_of(runner: DockerRunner) -> list[Any]:
    runner.settle()
    return scope_containers(runner.client, runner.scope)


@pytest.fixture(scope="module")
def inspected(docker: DockerRunner, utilities_file: Path, tmp_path_factory) -> dict[str, Any]:
    """`docker inspect` of a job's container, taken while the job runs."""
    work = tmp_path_factory.mktemp("inspect") / "work"
    limits = Limits(memory_mb=512, processes=48, cpus=1)
    spec = {"kind": "sql", "sql": "SELECT 1 AS one"}
    run = SandboxRun("inspect", work, {"enterprise_utilities": utilities_file}, spec, limits)
    handle = docker.start(run)
    try:
        assert handle.slot is not None
        attrs: dict[str, Any] = docker.client.api.inspect_container(handle.slot.container_id)
        result = docker.wait(handle)
    finally:
        docker.cleanup(handle)
    assert result.ok, log_of(result)
    return attrs


def test_no_capabilities(inspected: dict[str, Any]) -> None:
    assert inspected["HostConfig"]["CapDrop"] == ["ALL"]
    assert not inspected["HostConfig"]["CapAdd"]
    assert inspected["HostConfig"]["Privileged"] is False


def test_no_new_privileges(inspected: dict[str, Any]) -> None:
    assert "no-new-privileges:true" in inspected["HostConfig"]["SecurityOpt"]


def test_unprivileged_user(inspected: dict[str, Any]) -> None:
    assert inspected["Config"]["User"] == "65534:65534"


def test_no_network(inspected: dict[str, Any]) -> None:
    assert inspected["HostConfig"]["NetworkMode"] == "none"
    assert list(inspected["NetworkSettings"]["Networks"]) == ["none"]


def test_read_only_root(inspected: dict[str, Any]) -> None:
    assert inspected["HostConfig"]["ReadonlyRootfs"] is True


def test_limits_reach_the_engine(inspected: dict[str, Any]) -> None:
    host = inspected["HostConfig"]
    assert host["Memory"] == 512 * 1024 * 1024 and host["MemorySwap"] == host["Memory"]
    assert host["PidsLimit"] == 48 and host["NanoCpus"] == 1_000_000_000
    ulimits = {u["Name"]: (u["Soft"], u["Hard"]) for u in host["Ulimits"]}
    cpu = Limits().cpu_seconds  # the default CPU budget, with one second's grace to the kill
    assert ulimits["cpu"] == (cpu, cpu + 1) and ulimits["core"] == (0, 0)
    assert "size=256m" in host["Tmpfs"]["/tmp"] and "noexec" in host["Tmpfs"]["/tmp"]


def test_only_out_is_writable(inspected: dict[str, Any]) -> None:
    mounts = {m["Destination"]: m for m in inspected["Mounts"]}
    # /broker: a notebook's broker socket, alone in a read-only folder (jobs.broker)
    assert set(mounts) == {"/broker", "/data", "/job", "/out", "/runtime"}
    assert [d for d, m in mounts.items() if m["RW"]] == ["/out"]
    assert all(m["Type"] == "bind" for m in mounts.values())


def test_no_host_namespaces_or_devices(inspected: dict[str, Any]) -> None:
    host = inspected["HostConfig"]
    assert host["PidMode"] == "" and host["IpcMode"] == "private"
    assert not host["Devices"] and not host["Binds"]


def test_container_is_removed_and_logs_are_kept(docker: DockerRunner, tmp_path: Path) -> None:
    code = "print('hello from inside'); import sys; print('to stderr', file=sys.stderr)"
    run = SandboxRun("logs", tmp_path, {}, {"kind": "probe", "code": code})
    result = execute(docker, run)
    assert result.ok
    log = log_of(result)
    assert "hello from inside" in log and "to stderr" in log
    assert containers_of(docker) == []


def test_warm_pool_serves_one_job_per_container(tmp_path: Path) -> None:
    runner = docker_runner(tmp_path / "pool", pool_size=1)
    assert isinstance(runner, DockerRunner)
    try:
        assert runner.fill_pool() == 1
        folder = runner._folder(runner.pool_limits)
        assert ready_slots(folder) == 1
        [warm] = containers_of(runner)
        code = "import socket; open('/out/host.txt', 'w').write(socket.gethostname())"
        run = SandboxRun("warm", tmp_path / "job", {}, {"kind": "probe", "code": code})
        handle = runner.start(run)
        try:
            assert handle.slot is not None and handle.slot.container_id == warm.id
            result = runner.wait(handle)
        finally:
            runner.cleanup(handle)
        assert result.ok, log_of(result)
        # The used container is gone; a fresh one waits in its place.
        remaining = [c.id for c in containers_of(runner)]
        assert warm.id not in remaining and len(remaining) == 1
        assert ready_slots(folder) == 1
    finally:
        runner.drain_pool()
    assert containers_of(runner) == []


def test_other_limits_get_a_fresh_container(tmp_path: Path) -> None:
    runner = docker_runner(tmp_path / "pool", pool_size=1)
    assert isinstance(runner, DockerRunner)
    try:
        runner.fill_pool()
        [warm] = containers_of(runner)
        run = SandboxRun("cold", tmp_path / "job", {}, {"kind": "probe", "code": "pass"})
        run.limits = Limits(memory_mb=300)
        handle = runner.start(run)
        try:
            assert handle.slot is not None and handle.slot.container_id != warm.id
            # made for this job, the slot was its own before it was ready: nobody takes it
            assert claim_slot(runner.client, handle.slot.path.parent) is None
            assert runner.wait(handle).ok
        finally:
            runner.cleanup(handle)
    finally:
        runner.drain_pool()


def test_pools_of_different_homes_never_touch_each_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two domain homes (two checkouts) on one host, one pool directory: neither claims,
    drains nor reaps the other's containers, whatever runtime code either runs."""
    shared = tmp_path / "pool"
    homes = {"mine": tmp_path / "checkout-a" / "home", "theirs": tmp_path / "checkout-b" / "home"}
    mine, theirs = (docker_runner(shared, pool_size=1, home=h) for h in homes.values())
    assert isinstance(mine, DockerRunner) and isinstance(theirs, DockerRunner)
    orphan = None
    try:
        theirs.fill_pool()
        [waiting] = containers_of(theirs)
        assert waiting.labels[HOME_LABEL] == theirs.scope != mine.scope
        # their crashed process left a container whose slot folder is gone
        gone = theirs.pool_dir / "gone"
        labels = {LABEL: str(gone), HOME_LABEL: theirs.scope}
        orphan = mine.client.containers.create(theirs.image, ["true"], labels=labels)
        with monkeypatch.context() as patch:  # other runtime code: its sweep of stale slots
            patch.setattr(docker_backend, "runtime_digest", lambda: "0ther0de")
            assert mine.fill_pool() == 1
        mine.drain_pool()
        assert remove_leftovers(homes["mine"], shared) == 0
        assert containers_of(mine) == []
        theirs_now = {c.id: c.status for c in containers_of(theirs)}
        assert theirs_now == {waiting.id: "running", orphan.id: "created"}
        assert ready_slots(theirs._folder(theirs.pool_limits)) == 1
        assert remove_leftovers(homes["theirs"], shared) == 1  # its own orphan, by its owner
        orphan = None
    finally:
        if orphan is not None:
            orphan.remove(force=True)
        mine.drain_pool()
        theirs.drain_pool()
    assert containers_of(theirs) == []


# --- races: logs, exit status and removal; one container's trouble stays its own ---


def test_containers_are_never_auto_removed(inspected: dict[str, Any]) -> None:
    """Logs and exit status are read before removal, by the runner: the engine must not
    remove a container on its own while they are still needed."""
    assert inspected["HostConfig"]["AutoRemove"] is False


def test_broken_warm_containers_never_fail_the_job_that_claims_them(tmp_path: Path) -> None:
    """Every waiting container of the pool is broken (one killed, one removed behind the
    pool's back, one slot whose container id was half written): the job still runs, on
    a container of its own, and the broken slots are swept."""
    runner = docker_runner(None, pool_size=3, home=tmp_path / "home")
    assert isinstance(runner, DockerRunner)
    try:
        assert runner.fill_pool() == 3
        folder = runner._folder(runner.pool_limits)
        slots = sorted(p for p in folder.iterdir() if (p / "ready").exists())
        ids = [(p / "ready").read_text() for p in slots]
        runner.client.api.kill(ids[0])
        runner.client.api.wait(ids[0])
        runner.client.api.remove_container(ids[1], force=True)
        (slots[2] / "ready").write_text(ids[2][:3])  # a prefix: not the id it should be
        code = "print('healthy'); open('/out/ok.txt', 'w').write('ok')"
        run = SandboxRun("healthy", tmp_path / "job", {}, {"kind": "probe", "code": code})
        handle = runner.start(run)
        try:
            assert handle.slot is not None
            assert not any(i.startswith(handle.slot.container_id) for i in ids)
            result = runner.wait(handle)
        finally:
            runner.cleanup(handle)
        assert result.ok, log_of(result)
        assert "healthy" in log_of(result) and (tmp_path / "job" / "out" / "ok.txt").exists()
        assert not any(p.exists() for p in slots[:2])
    finally:
        runner.drain_pool()
        remove_leftovers(tmp_path / "home")
    assert containers_of(runner) == []


def test_a_container_removed_under_a_job_fails_that_job_only(
    docker: DockerRunner, tmp_path: Path
) -> None:
    """Someone removes a finished job's container before its runner read it: that job
    ends `failed` with the reason (no exception escapes, cleanup does not trip on the
    missing container), and a job beside it is untouched."""
    victim = SandboxRun("victim", tmp_path / "victim", {}, {"kind": "probe", "code": "pass"})
    healthy = SandboxRun(
        "healthy", tmp_path / "healthy", {}, {"kind": "probe", "code": "print('fine')"}
    )
    lost = docker.start(victim)
    kept = docker.start(healthy)
    try:
        assert lost.slot is not None
        docker.client.api.wait(lost.slot.container_id)
        docker.client.api.remove_container(lost.slot.container_id, force=True)
        failed = docker.wait(lost)
        fine = docker.wait(kept)
    finally:
        docker.cleanup(lost)
        docker.cleanup(kept)
    docker.settle()  # removal of a container already gone is no error
    assert not failed.ok and failed.failure is not None
    assert "removed before its exit status could be read" in str(failed.failure)
    assert "unavailable" in log_of(failed)
    assert fine.ok and "fine" in log_of(fine)


def test_exit_status_and_logs_are_read_before_removal(docker: DockerRunner, tmp_path: Path) -> None:
    """A job that fails says why (its last stderr line, its exit code): both come from the
    container, so they must be read before it goes; then it goes."""
    code = "import sys; print('partial work'); sys.exit('the reason it stopped')"
    run = SandboxRun("fails", tmp_path, {}, {"kind": "probe", "code": code})
    result = execute(docker, run)
    assert not result.ok and result.exit_code not in (None, 0)
    assert "the reason it stopped" in str(result.failure)
    assert "partial work" in log_of(result)
    assert containers_of(docker) == []


# --- one pool per domain home --------------------------------------------------------


def test_a_domain_pool_lives_in_its_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    runner = docker_runner(None, pool_size=1, home=home)
    assert isinstance(runner, DockerRunner)
    try:
        runner.fill_pool()
        [waiting] = containers_of(runner)
        assert runner.pool_dir == home.resolve() / "sandbox-pool"
        assert Path(waiting.labels[LABEL]).is_relative_to(home.resolve())
        assert waiting.labels[HOME_LABEL] == home_scope(home) == runner.scope
        mounts = runner.client.api.inspect_container(waiting.id)["Mounts"]
        host_paths = [m["Source"] for m in mounts if m["Destination"] != "/runtime"]
        assert host_paths and all(Path(p).is_relative_to(home.resolve()) for p in host_paths)
    finally:
        runner.drain_pool()


SLOW_JOB = "import time; time.sleep(3); open('/out/done.txt', 'w').write('done')"


def test_cleaning_one_home_never_touches_another_homes_jobs(tmp_path: Path) -> None:
    """Two domain homes with warm pools on one engine: while the second home's jobs run,
    the first drains its pool, reaps its leftovers and drops its slots' folders; the
    second's jobs finish, its waiting containers stay."""
    first, second = (
        docker_runner(None, pool_size=2, home=tmp_path / name / "home") for name in "ab"
    )
    assert isinstance(first, DockerRunner) and isinstance(second, DockerRunner)
    try:
        first.fill_pool(), second.fill_pool()
        handles = []
        for i in range(2):
            run = SandboxRun(f"b{i}", tmp_path / f"b{i}", {}, {"kind": "probe", "code": SLOW_JOB})
            handles.append(second.start(run))
        second.settle()  # its refill is done: two more wait
        waiting = {c.id for c in containers_of(second)} - {h.slot.container_id for h in handles}
        assert len(waiting) == 2
        first.drain_pool()
        first.settle()
        shutil.rmtree(first.pool_dir)  # every slot folder of the first home gone
        assert remove_leftovers(tmp_path / "a" / "home") == 0
        results = []
        for handle in handles:
            try:
                results.append(second.wait(handle))
            finally:
                second.cleanup(handle)
        assert all(r.ok for r in results), [log_of(r) for r in results]
        assert waiting <= {c.id for c in containers_of(second)}
        assert containers_of(first) == []
    finally:
        first.drain_pool()
        second.drain_pool()
    assert containers_of(second) == []
