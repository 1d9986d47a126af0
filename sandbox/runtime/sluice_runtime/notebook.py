"""Run a notebook with nbclient and a Python kernel, then say what it left in /out.

Cell outputs never leave: the executed notebook goes to the host beside /out (as
.sluice-notebook.ipynb, which the host moves to the job's review folder), and
only files in /out are candidates. After the last cell every process the
notebook started is killed before the runtime writes its own files, so nothing
the notebook runs can rewrite them.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from . import EXIT_BAD_SPEC, EXIT_NOTEBOOK_FAILED, JobFailed
from .jobspec import JobSpec

RESERVED_PREFIX = ".sluice-"
EXECUTED_NAME = ".sluice-notebook.ipynb"
MANIFEST_NAME = ".sluice-manifest.json"
EXECUTED_CAP = 8 * 1024 * 1024  # bytes; past it cell outputs are dropped from the copy
PR_SET_CHILD_SUBREAPER = 36


def run(spec: JobSpec, out_dir: Path) -> dict[str, Any]:
    """Execute every cell; write the executed notebook and the manifest; fail on a cell error."""
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    try:
        notebook = nbformat.read(spec.notebook, as_version=4)
    except (OSError, ValueError) as exc:
        raise JobFailed(EXIT_BAD_SPEC, f"cannot read notebook {spec.notebook}: {exc}") from exc
    _become_subreaper()
    os.environ["SLUICE_OUT"] = str(out_dir)  # the kernel inherits it
    if spec.broker:  # query(), schema() and fit() go to the host's broker through it
        os.environ["SLUICE_BROKER"] = spec.broker
    # IPC (unix sockets in /tmp), not TCP: the kernel needs no network, not even loopback.
    scratch = os.environ.get("TMPDIR", "/tmp")
    ipc = os.path.join(scratch, "sluice-kernel")
    kernel = KernelManager(kernel_name="python3", transport="ipc", ip=ipc)
    client = NotebookClient(
        notebook,
        km=kernel,
        timeout=spec.timeout,
        startup_timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": scratch}},
    )
    failure: JobFailed | None = None
    try:
        client.execute()
    except CellExecutionError as exc:
        failure = JobFailed(
            EXIT_NOTEBOOK_FAILED, f"notebook failed: {exc.ename}: {exc.evalue}"[:500]
        )
    except CellTimeoutError:
        failure = JobFailed(EXIT_NOTEBOOK_FAILED, "notebook failed: a cell timed out")
    except DeadKernelError:
        failure = JobFailed(EXIT_NOTEBOOK_FAILED, "notebook failed: the kernel died (MemoryError?)")
    finally:
        kill_descendants()
    manifest = write_manifest(out_dir)
    _write_executed(notebook, out_dir / EXECUTED_NAME)
    if failure is not None:
        raise failure
    return manifest


def write_manifest(out_dir: Path) -> dict[str, Any]:
    """Which files the notebook left in /out: every one is custom (no file a notebook
    writes is a gate-ready table, whatever its columns say).

    Deletes every reserved file first: what the notebook wrote under a reserved name
    (a forged manifest or table note) does not survive.
    """
    for path in sorted(out_dir.iterdir()):
        if path.name.startswith(RESERVED_PREFIX):
            _remove(path)
    manifest = {"tables": {}, "custom": sorted(p.name for p in out_dir.iterdir())}
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, ensure_ascii=False), "utf-8")
    return manifest


def _write_executed(notebook: Any, path: Path) -> None:
    import nbformat

    text = nbformat.writes(notebook)
    if len(text.encode()) > EXECUTED_CAP:
        for cell in notebook.cells:
            if cell.get("cell_type") == "code":
                cell["outputs"] = []
        notebook.metadata["sluice"] = {"outputs_dropped": f"larger than {EXECUTED_CAP} bytes"}
        text = nbformat.writes(notebook)
    _remove(path)
    path.write_text(text, "utf-8")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _become_subreaper() -> None:
    """Orphans (a daemonized child of the kernel) re-parent to us, so we can find them."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _children_of(pids: set[int]) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                ppid = int(stat.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid in pids:
            found.add(int(entry))
    return found


def kill_descendants() -> None:
    """SIGKILL every process below this one, until none is left, and reap them."""
    me = os.getpid()
    for _ in range(100):
        tree: set[int] = set()
        frontier = {me}
        while frontier:
            frontier = _children_of(frontier) - tree
            tree |= frontier
        for pid in tree:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not tree:
            return
        time.sleep(0.01)  # let the kernel finish the kills before we reap
        _reap()


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
