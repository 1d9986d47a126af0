"""Warm bubblewrap sandboxes: started ahead of demand, each used by one job, then destroyed.

A warm sandbox is a bwrap with the same namespaces, seccomp-free identity, rlimits
and read-only mounts as a cold one (`BubblewrapRunner.isolation`), whose /job, /data,
/out and /spill are empty folders of its own and whose runtime has imported DuckDB
and Arrow and blocks on a FIFO in /job. A job that claims it has its spec copied and
its datasets hard-linked into those folders, which no other sandbox mounts; then the
FIFO is opened. The job's wall clock starts at that hand-over, and its CPU limit is
moved to what the sandbox had used so far plus the job's own allowance. The pool
belongs to the process that starts it (the service, a worker): the sandboxes are its
children and die with it (`--die-with-parent`), and `close` kills those still waiting.
"""

from __future__ import annotations

import atexit
import errno
import math
import os
import resource
import select
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from core.processes import cpu_seconds_of
from sandbox.bubblewrap import WARM_SOURCES, BubblewrapHandle, BubblewrapRunner
from sandbox.limits import Limits, rlimits
from sandbox.outdir import OutMount
from sandbox.pool import place_job
from sandbox.runner import SandboxRun, prepare_work_dir
from sandbox.slot_folders import SlotFolders

GO = ".go"  # the FIFO in /job the runtime blocks on
READY_MARK = ".sluice-ready"  # the runtime's word, in /out, that it has loaded
WARMUP_CPU = 30  # CPU seconds a sandbox may spend loading; cut back to its job's at hand-over
START_TIMEOUT = 60.0  # seconds a sandbox may take to load its runtime
WARM_KINDS = ("sql", "fit", "probe")  # notebooks need a broker and a kernel: started cold


@dataclass
class WarmBubblewrap(SlotFolders):
    """One pre-started sandbox: its folder on the host and its bwrap process."""

    path: Path
    handle: BubblewrapHandle
    out: OutMount
    child_pid: int = 0  # the runtime (pid 1 inside), as the host numbers it

    @property
    def spill_dir(self) -> Path:
        return self.path / "spill"

    def destroy(self) -> None:
        """Unmount /out and delete the folder, datasets' links included. Safe to repeat."""
        self.out.release()
        shutil.rmtree(self.path, ignore_errors=True)


class WarmPool:
    """`size` warm sandboxes of `runner`'s kind, under `limits`, kept in `folder`.

    A background thread starts them and refills the pool after each claim; it is
    the sandboxes' parent (bwrap dies with the thread that started it), so it lives
    until `close`.
    """

    def __init__(
        self, runner: BubblewrapRunner, limits: Limits, size: int, folder: Path | None = None
    ) -> None:
        self.runner = runner
        self.limits = limits
        self.size = max(0, size)
        base = folder or Path(tempfile.gettempdir()) / f"sluice-warm-{os.geteuid()}"
        self.folder = base / f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._ready: list[WarmBubblewrap] = []
        self._changed = threading.Condition()
        self._closed = False
        self._keeper = threading.Thread(target=self._keep, name="sluice-warm-pool", daemon=True)
        self.started = 0  # sandboxes started so far, and jobs handed one (for tests, benches)
        self.handed = 0

    def start(self) -> WarmPool:
        self.folder.mkdir(parents=True, mode=0o700)
        WARM_SOURCES.append(self)
        atexit.register(self.close)
        self._keeper.start()
        return self

    def ready(self) -> int:
        with self._changed:
            return len(self._ready)

    def wait_ready(self, count: int, timeout: float = START_TIMEOUT) -> bool:
        """Block until `count` sandboxes wait (tests and benchmarks start full)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._ready) < count and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return len(self._ready) >= count

    def claim(self, runner: BubblewrapRunner, run: SandboxRun) -> BubblewrapHandle | None:
        """A started handle for `run` in a warm sandbox, or None (start it cold)."""
        if not self._serves(runner, run):
            return None
        while (sandbox := self._take()) is not None:
            if sandbox.handle.proc is not None and sandbox.handle.proc.poll() is None:
                return self._hand_over(sandbox, run)
            self._discard(sandbox)  # died while waiting: its own problem, not the job's
        return None

    def close(self) -> None:
        """Stop refilling and kill every sandbox still waiting. Safe to repeat."""
        with self._changed:
            self._closed = True
            waiting, self._ready = self._ready, []
            self._changed.notify_all()
        if self in WARM_SOURCES:
            WARM_SOURCES.remove(self)
        atexit.unregister(self.close)
        for sandbox in waiting:
            self._discard(sandbox)
        if self._keeper.is_alive() and self._keeper is not threading.current_thread():
            self._keeper.join(timeout=START_TIMEOUT)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _serves(self, runner: BubblewrapRunner, run: SandboxRun) -> bool:
        return (
            not self._closed
            and run.broker is None
            and run.spec.get("kind") in WARM_KINDS
            and run.limits == self.limits
            and runner.config() == self.runner.config()
        )

    def _take(self) -> WarmBubblewrap | None:
        with self._changed:
            sandbox = self._ready.pop(0) if self._ready else None
            self._changed.notify_all()
            return sandbox

    def _keep(self) -> None:
        failures = 0
        while True:
            with self._changed:
                while not self._closed and len(self._ready) >= self.size:
                    self._changed.wait()
                if self._closed:
                    return
            try:
                sandbox = self._launch()
            except Exception:  # noqa: BLE001  a host problem: jobs still start cold meanwhile
                failures += 1
                time.sleep(min(30.0, 0.5 * 2**failures))
                continue
            failures = 0
            with self._changed:
                if not self._closed:
                    self._ready.append(sandbox)
                    self._changed.notify_all()
                    continue
            self._discard(sandbox)

    def _launch(self) -> WarmBubblewrap:
        path = self.folder / uuid.uuid4().hex[:12]
        for sub in ("job", "data", "spill"):
            (path / sub).mkdir(parents=True, mode=0o700 if sub == "spill" else 0o755)
        os.mkfifo(path / "job" / GO, 0o644)
        out = OutMount.create(path / "out", self.limits, owner=os.geteuid())
        placeholder = SandboxRun("warm", path, {}, {}, self.limits)
        sandbox = WarmBubblewrap(path, BubblewrapHandle(run=placeholder, started=0.0), out)
        sandbox.handle.warm = sandbox
        mounts = ["--ro-bind", str(sandbox.data_dir), "/data", "--ro-bind", str(path / "job")]
        mounts += ["/job", "--bind", str(sandbox.out_dir), "/out"]
        limits = rlimits(self.limits)
        cpu = self.limits.cpu_seconds + WARMUP_CPU
        limits[resource.RLIMIT_CPU] = (cpu, cpu + 1)
        self.started += 1
        try:
            self.runner.spawn(
                sandbox.handle,
                lambda pyvenv_fd, info_fd: self.runner.isolation(
                    mounts, sandbox.spill_dir, pyvenv_fd=pyvenv_fd, info_fd=info_fd
                ),
                [*self.runner.command(), "--await", f"/job/{GO}"],
                limits,
            )
            sandbox.child_pid = _await_loaded(sandbox, time.monotonic() + START_TIMEOUT)
        except BaseException:
            self._discard(sandbox)
            raise
        return sandbox

    def _hand_over(self, sandbox: WarmBubblewrap, run: SandboxRun) -> BubblewrapHandle | None:
        """Give `run` to the sandbox: its files in, its CPU limit set, then go."""
        handle = sandbox.handle
        try:
            prepare_work_dir(run)
            place_job(run.job_dir, run.data, sandbox.job_dir, sandbox.data_dir)
            handle.cpu_before = cpu_seconds_of(handle.proc.pid if handle.proc else 0)
            handle.cpu_before += cpu_seconds_of(sandbox.child_pid)
            allowed = math.ceil(handle.cpu_before) + run.limits.cpu_seconds
            resource.prlimit(sandbox.child_pid, resource.RLIMIT_CPU, (allowed, allowed + 1))
        except BaseException:
            self._discard(sandbox)
            raise
        handle.run = run
        self.handed += 1
        handle.started = time.monotonic()
        _say_go(sandbox.job_dir / GO)
        return handle

    def _discard(self, sandbox: WarmBubblewrap) -> None:
        self.runner.cleanup(sandbox.handle)


def _await_loaded(sandbox: WarmBubblewrap, deadline: float) -> int:
    """Wait for bwrap's report (the runtime's pid and namespace) and the runtime's mark
    in /out; remove the mark. Returns the runtime's host pid."""
    handle = sandbox.handle
    info = b""
    child = 0
    mark = sandbox.out_dir / READY_MARK
    while not (child and mark.exists()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"a warm sandbox did not load within {START_TIMEOUT:.0f} s")
        if handle.proc is None or handle.proc.poll() is not None:
            raise RuntimeError("a warm sandbox stopped before its runtime had loaded")
        if not child and select.select([handle.info_fd], [], [], 0.005)[0]:
            info += os.read(handle.info_fd, 65536)
            child, handle.pid_ns = _child_of(info)
        else:
            time.sleep(0.005)
    mark.unlink()
    return child


def _child_of(info: bytes) -> tuple[int, str]:
    import json

    try:
        report = json.loads(info)
        return int(report["child-pid"]), f"pid:[{report['pid-namespace']}]"
    except (ValueError, KeyError, TypeError):
        return 0, ""


def _say_go(fifo: Path) -> None:
    """Open the FIFO the runtime is reading and close it: its read ends, the job begins."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            return
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:  # ENXIO: no reader yet
                raise
            time.sleep(0.002)
