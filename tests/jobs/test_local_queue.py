"""The bounded local queue (issue 18): without workers, a burst of submitted jobs
runs a few sandboxes at a time instead of all at once, and every job succeeds."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from jobs.runner import run
from jobs.submit import submit_sql
from sandbox.queue import LocalQueue, host_slots
from sandbox.runner import Handle, Runner, SandboxResult, SandboxRun
from tests.conftest import World

BURST = 20
SLOTS = 2
SMALL = "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district"


def _taken(folder: Path, number: int) -> bool:
    fd = os.open(folder / f"slot-{number}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_slots_are_held_for_the_block_and_given_back(tmp_path: Path) -> None:
    queue = LocalQueue(tmp_path, size=2)
    with queue.slot() as first, queue.slot() as second:
        assert {first, second} == {0, 1}
        assert _taken(tmp_path, 0) and _taken(tmp_path, 1)
    assert not _taken(tmp_path, 0) and not _taken(tmp_path, 1)


def test_a_killed_holder_does_not_keep_its_slot(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import pathlib, time; from sandbox.queue import LocalQueue\n"
            f"with LocalQueue(pathlib.Path({str(tmp_path)!r}), size=1).slot():\n"
            "    print('held', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    assert _taken(tmp_path, 0)  # another process holds it
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert not _taken(tmp_path, 0)


def test_the_host_takes_at_least_one_and_no_more_than_its_cores() -> None:
    assert 1 <= host_slots() <= (os.cpu_count() or 1)


class Counting:
    """The real backend, with a count of the sandboxes running at once around it."""

    def __init__(self, inner: Runner) -> None:
        self.inner, self.name = inner, inner.name
        self.lock = threading.Lock()
        self.running = self.most = self.started = 0

    def start(self, run: SandboxRun) -> Handle:
        with self.lock:
            self.running += 1
            self.started += 1
            self.most = max(self.most, self.running)
        return self.inner.start(run)

    def wait(self, handle: Handle) -> SandboxResult:
        return self.inner.wait(handle)

    def cleanup(self, handle: Handle) -> None:
        try:
            self.inner.cleanup(handle)
        finally:
            with self.lock:
                self.running -= 1


@pytest.mark.sandbox
@pytest.mark.slow
def test_a_burst_of_twenty_jobs_waits_for_slots_and_all_succeed(world: World) -> None:
    """Twenty jobs submitted at once and run at once, as the API's background tasks
    run them: no more than SLOTS sandboxes at a time, and every job reaches review."""
    base = world.domain.settings.job_settings()
    counting = Counting(base.runner())
    settings = replace(base, sandbox_runner=counting, slots=SLOTS, epsilon_per_query=0.1)
    with world.domain.transaction() as session:
        ids = [
            submit_sql(session, world.license_id, world.operator, SMALL, settings).id
            for _ in range(BURST)
        ]
    statuses: dict[int, str] = {}

    def one(job_id: int) -> None:
        job = run(world.domain.sessions, world.domain.home, job_id, settings)
        statuses[job_id] = f"{job.status} {job.failure or ''}".strip()

    threads = [threading.Thread(target=one, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == {i: "awaiting_review" for i in ids}
    assert counting.started == BURST
    assert 1 <= counting.most <= SLOTS
