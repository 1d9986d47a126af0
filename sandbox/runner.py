"""The one small interface every sandbox backend implements, and the choice between them.

A backend starts a job, waits for it under its limits, and cleans up; what goes
in (spec, datasets) and what may come out (/out) are prepared and judged here,
the same for every backend.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from core.errors import InvalidInput
from core.failures import FailureKind, JobFailure
from sandbox.limits import (
    Limits,
    breach_from_exit,
    check_outputs,
    clear_outputs,
    job_threads,
    over_limit,
    release_modes,
)

SPEC_NAME = "spec.json"
BROKER_MOUNT = "/broker"  # where a job's broker socket folder appears inside
LOG_NAME = "sandbox.log"
RESERVED_PREFIX = ".sluice-"  # the runtime's own files in /out, moved to review/ by the host
LOG_CAP = 1_000_000  # bytes of stdout+stderr kept in sandbox.log
_STDERR_TAIL = 8192
_DATASET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_JOB_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}")


class BrokerEndpoint(Protocol):
    """A service outside the sandbox that a job reaches through one Unix socket.

    The backend picks the host folder that it mounts read-only at /broker and asks
    the endpoint to listen there (`listen_in` returns the socket's file name); the
    folder holds nothing else, so the job sees the socket and no other file of the
    service. Defined here, implemented by the job layer (jobs.broker).
    """

    def listen_in(self, folder: Path) -> str: ...


@dataclass
class SandboxRun:
    """One job to run: where it lives on the host, what it may read, what it runs.

    `work_dir` gets four folders: `job` (read-only inside as /job, holds
    spec.json), `out` (writable, /out), `logs` and `review` (host only: the
    executed notebook and the runtime's manifest). Each `data` entry is mounted
    read-only at /data/<name>.parquet, and nothing else is. `files` are extra
    files for /job (a notebook), written beside the spec. A `broker` (notebooks)
    gets a folder of its own mounted read-only at /broker, and the spec names its
    socket for the runtime.
    """

    job_id: str
    work_dir: Path
    data: dict[str, Path]
    spec: dict[str, Any]
    limits: Limits = field(default_factory=Limits)
    files: dict[str, bytes] = field(default_factory=dict)
    broker: BrokerEndpoint | None = field(default=None, compare=False)

    @property
    def job_dir(self) -> Path:
        return self.work_dir / "job"

    @property
    def out_dir(self) -> Path:
        return self.work_dir / "out"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "logs" / LOG_NAME

    @property
    def review_dir(self) -> Path:
        return self.work_dir / "review"


@dataclass
class SandboxResult:
    """How a job ended. `outputs` is empty whenever `ok` is false."""

    ok: bool
    exit_code: int | None
    outputs: list[Path]
    failure: JobFailure | None
    log_path: Path
    seconds: float


@dataclass
class Handle:
    """A started job; backends extend it with their own process state."""

    run: SandboxRun
    started: float


class Runner(Protocol):
    name: str

    def start(self, run: SandboxRun) -> Handle: ...

    def wait(self, handle: Handle) -> SandboxResult: ...

    def cleanup(self, handle: Handle) -> None: ...


def execute(runner: Runner, run: SandboxRun) -> SandboxResult:
    """Run a job to the end, and always clean up after it."""
    handle = runner.start(run)
    try:
        return runner.wait(handle)
    finally:
        runner.cleanup(handle)


def attach_broker(run: SandboxRun, folder: Path, owner: int | None = None) -> None:
    """Make `folder` (mounted at /broker) hold the run's broker socket, and nothing else,
    and name the socket in the job spec.

    Folder and socket are for the sandbox's user alone: `owner` is its uid on the host
    where that differs from ours (a container's nobody); other host users cannot
    reach the socket either.
    """
    if run.broker is None:
        return
    folder.mkdir(parents=True, mode=0o700, exist_ok=True)  # kept: a container may mount it
    for entry in folder.iterdir():
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    name = run.broker.listen_in(folder)
    for path, mode in ((folder / name, 0o600), (folder, 0o700)):
        if owner is not None and os.geteuid() == 0:
            os.chown(path, owner, owner, follow_symlinks=False)
        path.chmod(mode)
    spec_path = run.job_dir / SPEC_NAME
    spec = json.loads(spec_path.read_text("utf-8"))
    spec["broker"] = f"{BROKER_MOUNT}/{name}"
    spec_path.write_text(json.dumps(spec, ensure_ascii=False, indent=2), "utf-8")


def prepare_work_dir(run: SandboxRun) -> None:
    """Check the job's inputs and lay out its folders; refuse a used or odd work_dir."""
    for name, path in run.data.items():
        if not _DATASET_NAME.fullmatch(name):
            raise InvalidInput.coded("sandbox_dataset_name", name=name)
        if not Path(path).is_file():
            raise InvalidInput.coded("sandbox_dataset_not_file", name=name, path=str(path))
    if run.out_dir.exists() and any(run.out_dir.iterdir()):
        raise InvalidInput.coded("sandbox_out_not_empty", folder=str(run.out_dir))
    for folder in (run.job_dir, run.out_dir, run.log_path.parent, run.review_dir):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)
    for name, content in run.files.items():
        if not _JOB_FILE.fullmatch(name) or name == SPEC_NAME:
            raise InvalidInput.coded("sandbox_job_file_name", name=name)
        (run.job_dir / name).write_bytes(content)
        (run.job_dir / name).chmod(0o644)
    spec_path = run.job_dir / SPEC_NAME
    spec_path.write_text(json.dumps(job_spec(run), ensure_ascii=False, indent=2), "utf-8")
    spec_path.chmod(0o644)


def job_spec(run: SandboxRun) -> dict[str, Any]:
    """The spec as the runtime will read it, with the mounts and limits filled in.

    DuckDB's memory_limit defaults to half the memory limit: the other half is
    address space for Python, Arrow and thread stacks, which RLIMIT_AS counts too.
    What outgrows it spills, up to the spill quota; threads follow the host's cores.
    """
    spec = dict(run.spec)
    mounted = {name: f"/data/{name}.parquet" for name in run.data}
    spec.setdefault("datasets", mounted)
    stray = {n: p for n, p in spec["datasets"].items() if mounted.get(n) != p}
    if stray:
        raise InvalidInput.coded("sandbox_spec_unmounted", names=sorted(stray))
    spec.setdefault("memory_limit", f"{max(run.limits.memory_mb // 2, 64)}MB")
    spec.setdefault("threads", job_threads())
    if spec.get("kind") == "sql":
        spec.setdefault("spill_limit", f"{run.limits.spill_mb}MB")
    if spec.get("kind") == "notebook":
        spec.setdefault("timeout", run.limits.wall_seconds)
    return spec


class JobLog:
    """A job's stdout and stderr as they arrive, up to LOG_CAP bytes, plus the tail of
    stderr, where the runtime's one-line reason for failing is."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.written = 0
        self.dropped = 0
        self.stderr_tail = b""

    def write(self, data: bytes, *, is_stderr: bool) -> None:
        if is_stderr:
            self.stderr_tail = (self.stderr_tail + data)[-_STDERR_TAIL:]
        room = max(0, LOG_CAP - self.written)
        self.file.write(data[:room])
        self.written += min(room, len(data))
        self.dropped += max(0, len(data) - room)

    def note(self, line: str) -> None:
        """A line from Sluice itself, written even when the job's output was cut."""
        if self.dropped:
            self.file.write(f"\n[sluice] log truncated: {self.dropped} bytes dropped\n".encode())
            self.dropped = 0
        self.file.write(f"\n[sluice] {line}\n".encode())

    def stderr_text(self) -> str:
        return self.stderr_tail.decode("utf-8", "replace")

    def last_stderr_line(self) -> str:
        lines = [line.strip() for line in self.stderr_text().splitlines() if line.strip()]
        return lines[-1] if lines else ""


def conclude(
    run: SandboxRun,
    log: JobLog,
    *,
    exit_code: int | None,
    killed_for: JobFailure | None,
    cpu_seconds: float,
    seconds: float,
    out_dir: Path | None = None,
) -> SandboxResult:
    """Judge a finished job: which limit or rule it broke, if any, and which files leave.

    `out_dir` is where the job's /out was, if not run.out_dir (a docker slot); the
    files that may leave are copied to run.out_dir. A failed job keeps nothing in
    /out: a partial result is never released.
    """
    limits = run.limits
    out = out_dir or run.out_dir
    collect_runtime_files(out, run.review_dir)
    failure = killed_for or breach_from_exit(exit_code, log.stderr_text(), cpu_seconds, limits)
    if failure is None and exit_code != 0:
        said = log.last_stderr_line() or f"exit code {exit_code}"
        failure = over_limit(out, limits) or JobFailure(FailureKind.ERROR, said)
    outputs: list[Path] = []
    if failure is None:
        check = check_outputs(out, limits)
        failure, outputs = check.failure, check.files
        if check.detail:
            log.note(check.detail)
    if failure is None:
        if out != run.out_dir:
            outputs = _copy_files(outputs, run.out_dir)
        release_modes(outputs)
    else:
        clear_outputs(out)
    log.note(f"exit_code={exit_code} failure={failure} seconds={seconds:.3f}")
    return SandboxResult(failure is None, exit_code, outputs, failure, run.log_path, seconds)


def collect_runtime_files(out_dir: Path, review_dir: Path) -> None:
    """Move the runtime's own files (.sluice-*) from /out to review/, without the prefix.

    Only plain files are moved; anything else under a reserved name is deleted. None
    of them is ever a candidate output.
    """
    review_dir.mkdir(parents=True, exist_ok=True)
    for entry in os.scandir(out_dir):
        if not entry.name.startswith(RESERVED_PREFIX):
            continue
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
            target = review_dir / entry.name.removeprefix(RESERVED_PREFIX)
            shutil.copyfile(entry.path, target, follow_symlinks=False)
            os.chmod(target, 0o644)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)


def _copy_files(files: list[Path], folder: Path) -> list[Path]:
    copied = []
    for file in files:
        target = folder / file.name
        shutil.copyfile(file, target, follow_symlinks=False)
        copied.append(target)
    return copied


def _bubblewrap() -> Callable[..., Runner]:
    from sandbox.bubblewrap import BubblewrapRunner

    return BubblewrapRunner


def _bubblewrap_unusable() -> str | None:
    from sandbox.bubblewrap import unavailable_reason

    return unavailable_reason()


def _docker() -> Callable[..., Runner]:
    from sandbox.docker_backend import DockerRunner

    return DockerRunner


def _docker_unusable() -> str | None:
    from sandbox.docker_backend import unavailable_reason

    return unavailable_reason()


# name -> (runner class, why it cannot run here or None). Imports are lazy so a
# backend's dependencies load only when it is used.
_BACKENDS: dict[str, tuple[Callable[[], Callable[..., Runner]], Callable[[], str | None]]] = {
    "bubblewrap": (_bubblewrap, _bubblewrap_unusable),
    "docker": (_docker, _docker_unusable),
}


def available_backends() -> dict[str, str | None]:
    """Each backend's name, with None if it can run here or the reason it cannot."""
    return {name: unusable() for name, (_, unusable) in _BACKENDS.items()}


def resolve_backend(name: str) -> str:
    """`auto` means docker where an engine answers with the image built, else bubblewrap."""
    if name != "auto":
        return name
    return "docker" if _docker_unusable() is None else "bubblewrap"


def get_runner(name: str, **options: Any) -> Runner:
    """The runner called `name`, built with `options`; refuses unknown or unusable ones."""
    if name not in _BACKENDS:
        choices = ", ".join(sorted(_BACKENDS))
        raise InvalidInput.coded("sandbox_backend_unknown", name=name, choices=choices)
    runner_class, unusable = _BACKENDS[name]
    reason = unusable()
    if reason is not None:
        raise InvalidInput.coded("sandbox_backend_unusable", name=name, detail=reason)
    return runner_class()(**options)
