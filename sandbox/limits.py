"""Sandbox limits, and how a breach of one is recognised after the job has ended.

Backends enforce the limits their own way; breaches (a `JobFailure` of kind LIMIT
naming the limit) and the rules for what may leave `/out` are shared here so every
backend agrees.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.errors import InvalidInput
from core.failures import FailureKind, JobFailure

# A failure that is not a limit: /out held something other than plain files.
RULE_REGULAR_FILES = JobFailure(FailureKind.RULE, "regular_files_only")

# Words a process prints when an allocation failed under RLIMIT_AS or DuckDB's
# memory_limit; the runtime prints the error as its last stderr line.
_MEMORY_MARKERS = ("MemoryError", "Cannot allocate memory", "Out of Memory Error", "bad_alloc")
_FILE_SIZE_MARKERS = ("File too large", "EFBIG")
# DuckDB names its spill setting when the spill quota is full; a write into the spill
# folder that failed (full disk, file size) quotes the folder's path.
_SPILL_MARKERS = ("max_temp_directory_size", "spill quota")
SPILL_DIR = "/spill"  # the spill folder inside a sandbox that has one (bubblewrap)
_SPILL_WRITE_MARKERS = ("File too large", "No space left on device")
# Docker's sandboxes have no /spill: DuckDB spills into their small /tmp instead.
_SPILL_PATHS = (SPILL_DIR + "/", "/tmp/duckdb/")


def host_ram_mb() -> int:
    """The host's RAM in MB (8 GB if the system will not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError):
        return 8192


def host_memory_mb() -> int:
    """A job's default memory: a quarter of the host's RAM, from 2 GB to 16 GB (the
    bounded local queue runs a few jobs at once, and the service needs its share)."""
    return max(2048, min(host_ram_mb() // 4, 16384))


@dataclass(frozen=True)
class Limits:
    """What one sandbox job may use. Defaults suit an aggregate over a real register
    (a 10M-row table, per-unit bounding included) on the host the domain runs on:
    memory follows the host's RAM, what outgrows it spills (`spill_mb`), and time
    is long enough for the spill to be read back."""

    cpu_seconds: int = 3600
    wall_seconds: int = 1800
    memory_mb: int = field(default_factory=lambda: host_memory_mb())
    # Room for the hidden columns a release carries to the gate: each group's population
    # (its digests while it has fewer than 64 units, else its sketch: at most ~7 kB).
    output_bytes: int = 200_000_000
    output_files: int = 20
    processes: int = 64
    cpus: int = 1  # cores' worth of CPU time per second (docker; bubblewrap cannot cap it)
    # Scratch space DuckDB may spill to when an aggregate outgrows its memory: a
    # folder of its own, apart from /out, so a large GROUP BY neither fills the
    # output limit nor is misnamed as a breach of it.
    spill_mb: int = 16384

    def __post_init__(self) -> None:
        for name, value in self.to_dict().items():
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise InvalidInput.coded("sandbox_limit_not_positive", name=name, value=value)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def breach(limit: str) -> JobFailure:
    """The failure of a job that ran into `limit` (a field of `Limits`)."""
    if limit not in Limits.__dataclass_fields__:
        raise ValueError(f"{limit!r} is not a sandbox limit")
    return JobFailure(FailureKind.LIMIT, limit)


def rlimits(limits: Limits) -> dict[int, tuple[int, int]]:
    """The (soft, hard) rlimits that carry these limits into a job's processes.

    CPU's hard limit is one second past the soft one: SIGXCPU first, then SIGKILL.
    RLIMIT_NPROC is deliberately absent: it counts every process of the host uid
    (host-wide, not per job), and the kernel ignores it when the sandbox user maps
    to root, as it does under bubblewrap run by root. Backends enforce `processes`
    themselves (bubblewrap: a watchdog; later, a pids cgroup).
    """
    memory = limits.memory_mb * 1024 * 1024
    # One file size for every file a job writes: large enough for DuckDB's spill file,
    # which grows as one file. /out is bounded apart (its own tmpfs, judged after).
    file_size = max(limits.output_bytes, limits.spill_mb * 1024 * 1024)
    hard_files = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    files = 1024 if hard_files == resource.RLIM_INFINITY else min(1024, hard_files)
    return {
        resource.RLIMIT_CPU: (limits.cpu_seconds, limits.cpu_seconds + 1),
        resource.RLIMIT_AS: (memory, memory),
        resource.RLIMIT_FSIZE: (file_size, file_size),
        resource.RLIMIT_NOFILE: (files, files),
        resource.RLIMIT_CORE: (0, 0),
    }


def breach_from_exit(
    exit_code: int | None, stderr_tail: str, cpu_used: float, limits: Limits
) -> JobFailure | None:
    """Name the limit a finished job ran into, judged from how it died and what it said.

    Exit codes above 128 are 128 + the signal that killed the job's main process
    (bubblewrap and docker both report deaths that way).
    """
    if exit_code is None or exit_code == 0:
        return None
    died_of = exit_code - 128 if exit_code > 128 else None
    if died_of == signal.SIGXCPU:
        return breach("cpu_seconds")
    if died_of == signal.SIGKILL and cpu_used >= limits.cpu_seconds - 0.5:
        return breach("cpu_seconds")  # the hard RLIMIT_CPU, one second after SIGXCPU
    if spilled_over(stderr_tail):
        return breach("spill_mb")
    if died_of == signal.SIGXFSZ or any(m in stderr_tail for m in _FILE_SIZE_MARKERS):
        return breach("output_bytes")
    if any(m in stderr_tail for m in _MEMORY_MARKERS):
        return breach("memory_mb")
    return None


def spilled_over(stderr_tail: str) -> bool:
    """Whether a job's last words say its spill quota (or the spill folder) ran out:
    DuckDB's message for a full quota names the setting, and a failed spill write
    names the folder. Checked before memory: DuckDB calls both "Out of Memory"."""
    if any(m in stderr_tail for m in _SPILL_MARKERS):
        return True
    in_spill = any(path in stderr_tail for path in _SPILL_PATHS)
    return in_spill and any(m in stderr_tail for m in _SPILL_WRITE_MARKERS)


def spill_bytes(folder: Path) -> int:
    """Bytes held in a job's spill folder (on the host), for the watchdog."""
    total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                continue  # DuckDB deletes spill files as it goes
    return total


def job_threads() -> int:
    """DuckDB threads for one job: the host's cores, at most 8 (more gain little on
    one aggregate, and each costs address space that RLIMIT_AS counts)."""
    return max(1, min(os.cpu_count() or 1, 8))


@dataclass(frozen=True)
class OutputCheck:
    """The files a job left in /out, or the rule they broke (with a line for the log)."""

    files: list[Path]
    failure: JobFailure | None = None
    detail: str = ""


def over_limit(out_dir: Path, limits: Limits) -> JobFailure | None:
    """The output limit /out is past, if any: how a job that died writing is judged
    (a full tmpfs says ENOSPC, which could also mean /tmp)."""
    names = os.listdir(out_dir)
    if len(names) > limits.output_files:
        return breach("output_files")
    total = 0
    for name in names:
        info = os.lstat(os.path.join(out_dir, name))
        total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return breach("output_bytes") if total > limits.output_bytes else None


def check_outputs(out_dir: Path, limits: Limits) -> OutputCheck:
    """Apply the /out rules: plain files only, within the count and byte limits.

    Only top-level regular files with a single link are accepted: a symlink could
    point a reviewer at host files, a fifo could block the gate, a directory would
    hide files from the count.
    """
    files: list[Path] = []
    total = 0
    with os.scandir(out_dir) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
                kind = _kind(info.st_mode)
                return OutputCheck([], RULE_REGULAR_FILES, f"/out/{entry.name} is a {kind}")
            files.append(Path(entry.path))
            total += info.st_size
    if len(files) > limits.output_files:
        detail = f"{len(files)} files in /out, limit {limits.output_files}"
        return OutputCheck([], breach("output_files"), detail)
    if total > limits.output_bytes:
        detail = f"{total} bytes in /out, limit {limits.output_bytes}"
        return OutputCheck([], breach("output_bytes"), detail)
    return OutputCheck(files)


def release_modes(files: list[Path]) -> None:
    """Make outputs plain data on the host: the sandbox user maps to the host user,
    so a setuid or executable bit set inside would otherwise survive outside."""
    for path in files:
        os.chmod(path, 0o644, follow_symlinks=False)


def clear_outputs(out_dir: Path) -> None:
    """Delete everything in /out so nothing partial or forbidden is released."""
    with os.scandir(out_dir) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISREG(mode):
        return "hard-linked file"
    return "special file"
