"""The bounded local queue: at most N sandboxes run at once on this host.

Without `sluice worker`s, every submitted job (CLI, API, console) runs in the
process that took it, and a burst of them would start as many sandboxes as there
are jobs, all competing for the same cores until they hit their wall time. Each
job therefore takes a slot first: one of N lock files in a folder, held with
`flock` for as long as the job runs. The kernel drops the lock when its holder
exits, however it exits, so a crashed job never keeps a slot; and since the
slots are files, the service's background tasks and the CLI's `jobs run`
processes share one bound.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sandbox.limits import Limits, host_ram_mb

POLL_SECONDS = 0.05
SLOTS_FOLDER = "sandbox-slots"


def host_slots(limits: Limits | None = None) -> int:
    """How many sandboxes this host can take at once: one per core, and no more than
    the jobs whose memory limit fits in its RAM."""
    memory_mb = (limits or Limits()).memory_mb
    fit_in_memory = max(1, host_ram_mb() // memory_mb)
    return max(1, min(os.cpu_count() or 1, fit_in_memory))


class LocalQueue:
    """N slots in `folder` (the domain home's, or one for the host); `size` 0 = host_slots()."""

    def __init__(self, folder: Path | None = None, size: int = 0) -> None:
        self.folder = folder or Path(tempfile.gettempdir()) / f"sluice-{SLOTS_FOLDER}-{os.getuid()}"
        self.size = size if size > 0 else host_slots()

    @contextmanager
    def slot(self) -> Iterator[int]:
        """Wait for a free slot, hold it for the block, and give its number."""
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            for number in range(self.size):
                fd = os.open(self.folder / f"slot-{number}.lock", os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                try:
                    yield number
                finally:
                    os.close(fd)  # closing the last descriptor releases the lock
                return
            time.sleep(POLL_SECONDS)
