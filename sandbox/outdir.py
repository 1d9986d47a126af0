"""A job's /out as a size-limited tmpfs on the host, so a disk-fill stops at the limit.

The mount bounds bytes and inodes while the job runs (a plain folder could only be
judged afterwards); when the job is over, what may leave is copied to disk and the
tmpfs goes. Mounting needs root; elsewhere /out stays a plain folder, judged after.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import shutil
from dataclasses import dataclass
from errno import EINVAL, ENOENT
from pathlib import Path

from sandbox.limits import Limits

MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MNT_DETACH = 2
SLACK_BYTES = 1024 * 1024  # so going past the limit shows in the bytes, not as a short file
SLACK_INODES = 4  # the root folder, plus room to exceed the count visibly
RUNTIME_ALLOWANCE = 16 * 1024 * 1024  # the executed notebook and manifest, moved out after


@functools.cache
def _libc() -> ctypes.CDLL:
    """Looked up once: find_library runs `ldconfig -p` in a child process on every
    call, and every job mounts and unmounts its /out."""
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def can_mount() -> bool:
    return os.geteuid() == 0


@dataclass
class OutMount:
    """The tmpfs mounted over `path`, or nothing when this host cannot mount."""

    path: Path
    mounted: bool = False

    @classmethod
    def create(cls, path: Path, limits: Limits, *, owner: int = 0) -> OutMount:
        """Mount a tmpfs of output_bytes (+ slack) and output_files (+ slack) over `path`."""
        path.mkdir(parents=True, exist_ok=True)
        if not can_mount():
            return cls(path)
        size = limits.output_bytes + SLACK_BYTES + RUNTIME_ALLOWANCE
        inodes = limits.output_files + SLACK_INODES + 2
        options = f"size={size},nr_inodes={inodes},mode=0755,uid={owner},gid={owner}"
        flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
        result = _libc().mount(b"tmpfs", str(path).encode(), b"tmpfs", flags, options.encode())
        if result != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"mounting a tmpfs on {path} failed: {os.strerror(errno)}")
        return cls(path, mounted=True)

    def persist(self, keep: list[Path]) -> None:
        """Copy `keep` (files in the tmpfs) to disk at the same paths; drop the rest."""
        if not self.mounted:
            return
        staging = self.path.with_name(self.path.name + ".saved")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for file in keep:
            shutil.copyfile(file, staging / file.name, follow_symlinks=False)
        self.release()
        for file in staging.iterdir():
            os.replace(file, self.path / file.name)
            os.chmod(self.path / file.name, 0o644)
        staging.rmdir()

    def release(self) -> None:
        """Unmount (lazily, in case a dying container still holds it). Safe to repeat."""
        if not self.mounted:
            return
        if _libc().umount2(str(self.path).encode(), MNT_DETACH) != 0:
            errno = ctypes.get_errno()
            if errno not in (EINVAL, ENOENT):  # not (or no longer) a mount point: done
                raise OSError(errno, f"unmounting {self.path} failed: {os.strerror(errno)}")
        self.mounted = False
