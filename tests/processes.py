"""What /proc says about a process, for tests that check nothing was left running."""

from __future__ import annotations

from pathlib import Path


def running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie (a dead child not yet reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b") ", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")
