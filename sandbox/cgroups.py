"""What a container's cgroups say while its job runs: CPU used, forks refused, OOM kills.

Found from the container's pid (/proc/<pid>/cgroup), for cgroup v1 and v2 alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def container_cgroups(client: Any, container_id: str) -> dict[str, Path]:
    """The container's cgroup folders by controller ("" for cgroup v2), from its pid."""
    pid = client.api.inspect_container(container_id)["State"].get("Pid") or 0
    found: dict[str, Path] = {}
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines() if pid else []
    except OSError:
        return found
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if path == "/":  # never a container's own: an exiting task's, or the host's
            continue
        for controller in controllers.split(",") if controllers else [""]:
            base = Path("/sys/fs/cgroup") / controller if controller else Path("/sys/fs/cgroup")
            found[controller] = base / path.lstrip("/")
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def cpu_seconds(cgroups: dict[str, Path]) -> float:
    if "cpuacct" in cgroups:
        usage = _read(cgroups["cpuacct"] / "cpuacct.usage").strip()
        return int(usage) / 1e9 if usage.isdigit() else 0.0
    for line in _read(cgroups.get("", Path("/nonexistent")) / "cpu.stat").splitlines():
        if line.startswith("usage_usec "):
            return int(line.split()[1]) / 1e6
    return 0.0


def oom_kills(cgroups: dict[str, Path]) -> int:
    """How many processes the memory cgroup's OOM killer has killed in this job."""
    folder = cgroups.get("memory") or cgroups.get("")
    if folder is None:
        return 0
    name = "memory.oom_control" if "memory" in cgroups else "memory.events"
    for line in _read(folder / name).splitlines():
        if line.startswith("oom_kill "):
            return int(line.split()[1])
    return 0


def pids_refused(cgroups: dict[str, Path]) -> bool:
    """Whether the pids cgroup has refused a fork: the job wanted more than its limit."""
    folder = cgroups.get("pids") or cgroups.get("")
    if folder is None:
        return False
    for line in _read(folder / "pids.events").splitlines():
        if line.startswith("max ") and line.split()[1] != "0":
            return True
    return False
