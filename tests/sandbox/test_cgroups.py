"""Which cgroups a container's CPU, forks and OOM kills are read from.

A job that ends at once leaves a zombie, and cgroup v1 moves an exiting task to the
host's root cgroups: read then, its /proc entry named the root, and the whole host's
CPU (hours of it) was counted as the job's, which killed healthy jobs for `cpu_seconds`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sandbox.cgroups import container_cgroups, cpu_seconds


class _Engine:
    """Docker's answer to `inspect_container`, for a process of this host."""

    def __init__(self, pid: int) -> None:
        self.api = self
        self.pid = pid

    def inspect_container(self, _container_id: str) -> dict[str, Any]:
        return {"State": {"Pid": self.pid}}


def _roots() -> set[Path]:
    base = Path("/sys/fs/cgroup")
    return {base, *base.iterdir()} if base.is_dir() else {base}


def test_a_root_cgroup_is_never_taken_as_the_container_s() -> None:
    for pid in (os.getpid(), 1):
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        found = container_cgroups(_Engine(pid), "any")
        assert not set(found.values()) & _roots(), (pid, found)
        # every cgroup the process is in below a root is still found
        own = [line.split(":", 2) for line in lines if not line.endswith(":/")]
        for _, controllers, path in own:
            for controller in controllers.split(",") if controllers else [""]:
                assert found[controller].as_posix().endswith(path), (controller, found)


def test_without_a_cgroup_of_its_own_a_job_has_used_no_cpu() -> None:
    """What the watchdog reads when only root cgroups were found: nothing, not the host."""
    assert cpu_seconds({}) == 0.0


def test_a_finished_container_has_no_cgroups() -> None:
    assert container_cgroups(_Engine(0), "gone") == {}
