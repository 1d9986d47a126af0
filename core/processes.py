"""What the host's /proc says about a process, for budgets counted in CPU time."""

from __future__ import annotations

import os

__all__ = ["cpu_seconds_of"]

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU of one process so far (from /proc, in clock ticks); OSError if
    there is no such process."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
