"""The bubblewrap backend: each job in fresh Linux namespaces, for hosts without Docker.

The sandbox sees a read-only /usr, this interpreter remapped to /python and /venv,
the runtime at /runtime, its datasets under /data, /job, /out and a small /tmp;
nothing else of the host. Limits are rlimits set before exec (by prlimit) plus a host
watchdog.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from core.failures import JobFailure
from sandbox.interpreter import Interpreter
from sandbox.limits import SPILL_DIR, breach, rlimits, spill_bytes
from sandbox.outdir import OutMount
from sandbox.runner import (
    BROKER_MOUNT,
    SPEC_NAME,
    Handle,
    JobLog,
    SandboxResult,
    SandboxRun,
    attach_broker,
    conclude,
    prepare_work_dir,
)

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
NOBODY = "65534"
WATCH_INTERVAL = 0.1  # seconds between process counts; bounds how far a fork bomb gets


@functools.lru_cache(maxsize=4)
def _probe_bwrap(bwrap: str) -> str | None:
    true = shutil.which("true") or "/bin/true"
    args = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns"]
    args += ["--uid", NOBODY, "--gid", NOBODY, "--ro-bind", "/", "/", "--", true]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=20, env={})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not be started: {exc}"
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"]
        return f"bwrap cannot create namespaces here (user namespaces off?): {lines[-1]}"
    return None


def unavailable_reason(bwrap: str | None = None) -> str | None:
    """None if bubblewrap can sandbox a job on this host, else why not."""
    found = bwrap or shutil.which("bwrap")
    if found is None:
        return "bwrap is not installed; install bubblewrap (scripts/system-deps.sh does it)"
    if shutil.which("prlimit") is None:
        return "prlimit is not installed; install util-linux (scripts/system-deps.sh does it)"
    return _probe_bwrap(found)


def _system_mounts() -> list[str]:
    """/usr and the top-level links into it; of /etc only what the loader and clocks read."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for name in ("/etc/ld.so.cache", "/etc/localtime"):
        args += ["--ro-bind-try", name, name]
    return args


# prlimit(1)'s option for each rlimit the sandbox sets (sandbox.limits.rlimits)
PRLIMIT_OPTIONS = {
    resource.RLIMIT_CPU: "--cpu",
    resource.RLIMIT_AS: "--as",
    resource.RLIMIT_FSIZE: "--fsize",
    resource.RLIMIT_NOFILE: "--nofile",
    resource.RLIMIT_CORE: "--core",
}


def with_rlimits(prlimit: str, wanted: dict[int, tuple[int, int]], command: list[str]) -> list[str]:
    """`command` started by prlimit(1) under these limits, which bwrap and everything
    inside inherit. Setting them in a `preexec_fn` would make Python fork the whole host
    process instead of vfork-ing it: 18 ms of CPU per sandbox from a 300 MB host,
    against 1.7 ms for the extra exec."""
    options = [
        f"{PRLIMIT_OPTIONS[which]}={_limit(soft)}:{_limit(hard)}"
        for which, (soft, hard) in wanted.items()
    ]
    return [prlimit, *options, "--", *command]


def _limit(value: int) -> str:
    return "unlimited" if value == resource.RLIM_INFINITY else str(value)


class WarmSandbox(Protocol):
    """A sandbox started before its job (sandbox.warm_pool): where its /out and /spill are."""

    @property
    def out_dir(self) -> Path: ...

    @property
    def spill_dir(self) -> Path: ...

    def destroy(self) -> None: ...


class WarmSource(Protocol):
    """Something that can hand a job a sandbox already started (a warm pool)."""

    def claim(self, runner: BubblewrapRunner, run: SandboxRun) -> BubblewrapHandle | None: ...


# The warm pools of this process (their sandboxes are its children): tried in turn.
WARM_SOURCES: list[WarmSource] = []


def claim_warm(runner: BubblewrapRunner, run: SandboxRun) -> BubblewrapHandle | None:
    for source in list(WARM_SOURCES):
        if (handle := source.claim(runner, run)) is not None:
            return handle
    return None


@dataclass
class BubblewrapHandle(Handle):
    proc: subprocess.Popen[bytes] | None = None
    pidfd: int = -1
    info_fd: int = -1
    fds: list[int] = field(default_factory=list)  # memfds handed to bwrap, closed on cleanup
    pid_ns: str = ""  # the job's pid namespace, once bwrap has reported it
    exited: bool = False
    out: OutMount | None = None
    warm: WarmSandbox | None = None  # the pre-started sandbox this job was handed
    cpu_before: float = 0.0  # CPU seconds a warm sandbox spent before its job arrived

    @property
    def spill_dir(self) -> Path:
        return self.warm.spill_dir if self.warm is not None else spill_folder(self.run)


class BubblewrapRunner:
    """Runs jobs under `bwrap`. `allow_probes` lets tests run Python probes inside."""

    name = "bubblewrap"

    def __init__(
        self,
        *,
        allow_probes: bool = False,
        bwrap: str | None = None,
        tmpfs_mb: int = 256,
        interpreter: Interpreter | None = None,
    ) -> None:
        self.allow_probes = allow_probes
        self.bwrap = bwrap or shutil.which("bwrap") or "bwrap"
        self.prlimit = shutil.which("prlimit") or "prlimit"
        self.tmpfs_mb = tmpfs_mb
        self.interpreter = interpreter or Interpreter.current()

    def config(self) -> tuple[object, ...]:
        """What makes two runners' sandboxes interchangeable (a warm pool serves only its own)."""
        return (self.bwrap, self.tmpfs_mb, self.allow_probes, self.interpreter)

    def options(self, run: SandboxRun, *, pyvenv_fd: int, info_fd: int) -> list[str]:
        """bwrap's options for `run`: namespaces, identity, environment, mounts."""
        mounts: list[str] = []
        for name, path in sorted(run.data.items()):
            mounts += ["--ro-bind", str(Path(path).resolve()), f"/data/{name}.parquet"]
        mounts += ["--ro-bind", str(run.job_dir), "/job", "--bind", str(run.out_dir), "/out"]
        if run.broker is not None:  # only the socket's own folder, read-only
            mounts += ["--ro-bind", str(broker_dir(run)), BROKER_MOUNT]
        return self.isolation(mounts, spill_folder(run), pyvenv_fd=pyvenv_fd, info_fd=info_fd)

    def isolation(
        self, mounts: list[str], spill: Path, *, pyvenv_fd: int, info_fd: int
    ) -> list[str]:
        """Everything but the job's own mounts: the same for a cold and a warm sandbox."""
        py = self.interpreter
        # --as-pid-1: the runtime is the namespace's init, so no bwrap process sits
        # inside for the job to ptrace (same uid, no Yama here); see sluice_runtime.
        args = ["--unshare-all", "--unshare-user", "--disable-userns", "--as-pid-1"]
        args += ["--uid", NOBODY, "--gid", NOBODY, "--hostname", "sluice-sandbox"]
        args += ["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv"]
        for key, value in self.environment().items():
            args += ["--setenv", key, value]
        args += _system_mounts() + py.mounts(pyvenv_fd)
        args += ["--ro-bind", str(RUNTIME_DIR), "/runtime"]
        args += mounts
        args += ["--size", str(self.tmpfs_mb * 1024 * 1024), "--tmpfs", "/tmp"]
        args += ["--bind", str(spill), SPILL_DIR]
        args += ["--proc", "/proc", "--dev", "/dev"]
        # bwrap's root and /dev are unbounded tmpfs: read-only, /tmp stays the only scratch.
        args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/tmp"]
        # The sandbox user is root's kuid outside (bwrap maps 65534 to its caller), and
        # owner bits admit it to root's files in /proc: host sysctls, sysrq-trigger.
        args += ["--remount-ro", "/proc"]
        return args + ["--info-fd", str(info_fd)]

    def environment(self) -> dict[str, str]:
        """The whole environment inside. Thread pools and malloc arenas are pinned so that
        RLIMIT_AS (address space, not resident memory) measures the job, not the host's cores."""
        env = {
            "PATH": "/venv/bin:/python/bin:/usr/bin:/bin",
            "HOME": "/tmp",
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            # No `site` (-S, below): the runtime and the packages are put on the path here.
            "PYTHONPATH": f"/runtime:{self.interpreter.site_packages}",
            "PYTHONDONTWRITEBYTECODE": "1",
            "LD_LIBRARY_PATH": "/python/lib",  # pyenv builds find libpython by RUNPATH
            "MALLOC_ARENA_MAX": "2",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
        }
        if self.allow_probes:
            env["SLUICE_ALLOW_PROBES"] = "1"
        return env

    def command(self) -> list[str]:
        # -S: no `site`, whose .pth files (an editable install's finder among them)
        # cost ~25 ms of CPU per sandbox; -s: no user site; -P: the working directory
        # (/tmp, writable) stays off sys.path.
        python = self.interpreter.executable
        return [python, "-S", "-s", "-P", "-m", "sluice_runtime", f"/job/{SPEC_NAME}"]

    def start(self, run: SandboxRun) -> BubblewrapHandle:
        warm = claim_warm(self, run)
        if warm is not None:
            return warm
        prepare_work_dir(run)
        attach_broker(run, broker_dir(run))
        spill_folder(run).mkdir(mode=0o700, exist_ok=True)
        handle = BubblewrapHandle(run=run, started=time.monotonic())
        try:
            # The sandbox user maps to ours, so the tmpfs belongs to us.
            handle.out = OutMount.create(run.out_dir, run.limits, owner=os.geteuid())
            self.spawn(
                handle,
                lambda pyvenv_fd, info_fd: self.options(run, pyvenv_fd=pyvenv_fd, info_fd=info_fd),
                self.command(),
                rlimits(run.limits),
            )
        except BaseException:
            self.cleanup(handle)
            raise
        return handle

    def spawn(
        self,
        handle: BubblewrapHandle,
        options: Callable[[int, int], list[str]],
        command: list[str],
        limits: dict[int, tuple[int, int]],
    ) -> None:
        """Start bwrap for `handle` with `options(pyvenv_fd, info_fd)` and these rlimits.
        The handle keeps the descriptors, for cleanup to close."""
        info_r, info_w = os.pipe()
        handle.info_fd = info_r
        try:
            pyvenv_fd = _memfd("pyvenv.cfg", self.interpreter.pyvenv_cfg())
            handle.fds.append(pyvenv_fd)
            args = options(pyvenv_fd, info_w)
            # Options go through a memfd, not argv, which the job can read as
            # /proc/1/cmdline. (/proc/self/mountinfo still names bind sources:
            # that is how the kernel shows bind mounts.)
            args_fd = _memfd("bwrap-args", b"\0".join(a.encode() for a in args) + b"\0")
            handle.fds.append(args_fd)
            handle.started = time.monotonic()
            bwrap = [self.bwrap, "--args", str(args_fd), *command]
            handle.proc = subprocess.Popen(
                with_rlimits(self.prlimit, limits, bwrap),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(pyvenv_fd, args_fd, info_w),
                # bwrap's own environment is readable inside as /proc/1/environ,
                # whatever --clearenv does for the job: give it nothing.
                env={},
                start_new_session=True,
            )
            handle.pidfd = os.pidfd_open(handle.proc.pid)
        finally:
            os.close(info_w)

    def wait(self, handle: Handle) -> SandboxResult:
        h = _own(handle)
        assert h.proc is not None and h.proc.stdout is not None and h.proc.stderr is not None
        with open(h.run.log_path, "wb") as log_file:
            log = JobLog(log_file)
            killed_for = self._watch(h, log)
            _, status, usage = os.wait4(h.proc.pid, 0)
            h.proc.returncode, h.exited = os.waitstatus_to_exitcode(status), True
            seconds = time.monotonic() - h.started
            _await_empty(h.pid_ns, time.monotonic() + 5)
            _drain(log, [(h.proc.stdout, False), (h.proc.stderr, True)], time.monotonic() + 2)
            result = conclude(
                h.run,
                log,
                exit_code=None if killed_for else _bwrap_exit_code(status),
                killed_for=killed_for,
                cpu_seconds=usage.ru_utime + usage.ru_stime - h.cpu_before,
                seconds=seconds,
                out_dir=h.warm.out_dir if h.warm is not None else None,
            )
        if h.out is not None:
            h.out.persist(result.outputs)
        return result

    def _watch(self, h: BubblewrapHandle, log: JobLog) -> JobFailure | None:
        """Pump output into the log until bwrap exits; kill it at the wall time or
        when the job has more processes than allowed. Returns the limit it killed for."""
        assert h.proc is not None and h.proc.stdout is not None and h.proc.stderr is not None
        limits = h.run.limits
        deadline = h.started + limits.wall_seconds
        selector = selectors.DefaultSelector()
        for stream in (h.proc.stdout, h.proc.stderr):
            selector.register(stream, selectors.EVENT_READ)
        selector.register(h.pidfd, selectors.EVENT_READ)
        selector.register(h.info_fd, selectors.EVENT_READ)
        info = b""
        killed_for: JobFailure | None = None
        try:
            while True:
                left = WATCH_INTERVAL if killed_for else deadline - time.monotonic()
                timeout = max(0.0, min(left, WATCH_INTERVAL))
                for key, _ in selector.select(timeout):
                    if key.fileobj == h.pidfd:
                        return killed_for
                    data = os.read(key.fd, 65536)
                    if not data:
                        selector.unregister(key.fileobj)
                    elif key.fileobj == h.info_fd:
                        info += data
                        h.pid_ns = h.pid_ns or _pid_namespace(info)
                    else:
                        log.write(data, is_stderr=key.fileobj is h.proc.stderr)
                if killed_for:
                    continue
                if time.monotonic() >= deadline:
                    killed_for = breach("wall_seconds")
                elif h.pid_ns and _processes_in(h.pid_ns) > limits.processes:
                    killed_for = breach("processes")
                elif spill_bytes(h.spill_dir) > limits.spill_mb * 1024 * 1024:
                    killed_for = breach("spill_mb")  # DuckDB stops at it; this stops other writers
                if killed_for:
                    log.note(f"killed: {killed_for}")
                    self._kill(h)
        finally:
            selector.close()

    def _kill(self, h: BubblewrapHandle) -> None:
        # Killing bwrap's group takes its pid-1 with it (--die-with-parent), and the
        # kernel then kills everything left in the job's pid namespace.
        if h.proc is None or h.exited:
            return
        try:
            os.killpg(h.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def cleanup(self, handle: Handle) -> None:
        h = _own(handle)
        if h.proc is not None:
            if not h.exited:
                self._kill(h)
                h.proc.wait()
                h.exited = True
            for stream in (h.proc.stdout, h.proc.stderr):
                if stream is not None:
                    stream.close()
        for fd in [*h.fds, h.pidfd, h.info_fd]:
            if fd >= 0:
                os.close(fd)
        h.fds, h.pidfd, h.info_fd = [], -1, -1
        if h.out is not None:
            h.out.release()
        if h.warm is not None:  # used once: its folders go with it
            h.warm.destroy()
        shutil.rmtree(spill_folder(h.run), ignore_errors=True)


def spill_folder(run: SandboxRun) -> Path:
    """The job's spill folder on the host (/spill inside): on disk beside its work
    folder, bounded by the spill quota, removed when the job is cleaned up."""
    return run.work_dir / "spill"


def broker_dir(run: SandboxRun) -> Path:
    """The host folder bubblewrap mounts at /broker: the job's own, beside /job and /out."""
    return run.work_dir / "broker"


def _own(handle: Handle) -> BubblewrapHandle:
    if not isinstance(handle, BubblewrapHandle):
        raise TypeError(f"not a bubblewrap handle: {handle!r}")
    return handle


def _drain(log: JobLog, streams: list[tuple[IO[bytes], bool]], deadline: float) -> None:
    """Read what the job wrote just before it ended; everything inside is dead by now."""
    for stream, is_stderr in streams:
        os.set_blocking(stream.fileno(), False)
        while time.monotonic() < deadline:
            try:
                data = os.read(stream.fileno(), 65536)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            if not data:
                break
            log.write(data, is_stderr=is_stderr)


def _memfd(name: str, content: bytes) -> int:
    fd = os.memfd_create(name)
    os.write(fd, content)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _bwrap_exit_code(status: int) -> int:
    """bwrap reports a job killed by signal N as 128 + N; say the same if bwrap itself was."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _pid_namespace(info: bytes) -> str:
    """The job's pid namespace, as /proc/<pid>/ns/pid names it, once bwrap has said."""
    try:
        ns = json.loads(info)["pid-namespace"]
    except (ValueError, KeyError, TypeError):
        return ""
    return f"pid:[{ns}]"


def _await_empty(pid_ns: str, deadline: float) -> None:
    """Wait for the kernel to finish killing a job's processes: when we kill bwrap we
    reap it first, and /out must be still before it is judged. Zombies are done
    (bwrap's pid 1 stays one until the host's init reaps it)."""
    while pid_ns and _processes_in(pid_ns, live=True) and time.monotonic() < deadline:
        time.sleep(0.01)


def _processes_in(pid_ns: str, *, live: bool = False) -> int:
    count = 0
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{entry.name}/ns/pid") != pid_ns:
                    continue
                if live and _state(entry.name) in "ZX":
                    continue
            except OSError:
                continue  # exited while we looked
            count += 1
    return count


def _state(pid: str) -> str:
    with open(f"/proc/{pid}/stat", "rb") as stat:  # "pid (comm) S ...": comm may hold ")"
        return stat.read().rsplit(b")", 1)[1].split()[0].decode()
