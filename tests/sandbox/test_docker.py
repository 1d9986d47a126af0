"""The docker backend: its container configuration as docker reports it, the warm pool,
removal after each job, and logs kept with the job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox import Limits, SandboxRun, docker_backend, execute
from sandbox.docker_backend import DockerRunner, remove_leftovers
from sandbox.pool import HOME_LABEL, LABEL, claim_slot, ready_slots, scope_containers
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
    assert ulimits["cpu"] == (60, 61) and ulimits["core"] == (0, 0)
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
