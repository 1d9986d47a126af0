"""Slots: one container each, started ahead of a job, used by exactly one job, destroyed.

A slot is a folder on the host (job/, data/, out/ as a size-limited tmpfs) and a
container that already mounts them read-only (/job, /data) or writable (/out), has
imported its runtime, and blocks on a FIFO. A job claims a slot by creating a
`claimed` file (O_EXCL: one winner), puts its spec and datasets in, and writes the
FIFO; the container's first act after that is the job. A warm pool is slots made
before anyone asked; a cold start makes one on the spot, already claimed. Slots live
on disk and in the engine, so every process of one domain home shares its pool; each
home has its own folder and container label (`home_scope`), so homes and checkouts
sharing a host never claim, drain or reap each other's containers.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.limits import Limits
from sandbox.outdir import OutMount
from sandbox.slot_folders import SlotFolders

READY, CLAIMED, GO = "ready", "claimed", ".go"
LABEL = "org.sluice.slot"  # the slot's folder
HOME_LABEL = "org.sluice.home"  # whose pool: home_scope() of the domain home
SANDBOX_UID = 65534
START_TIMEOUT = 60.0  # seconds a fresh container may take to reach its FIFO
_CONTAINER_ID = re.compile(r"[0-9a-f]{64}")


DEFAULT_POOL_DIR = (
    Path("/var/lib/sluice/pool")
    if os.geteuid() == 0
    else Path(tempfile.gettempdir()) / f"sluice-pool-{os.geteuid()}"
)


POOL_FOLDER = "sandbox-pool"  # a domain home's own pool, inside the home


def pool_of(home: Path | None, pool_dir: Path | None = None) -> tuple[str, Path]:
    """The scope (container label) and folder of a home's pool.

    A domain home's pool lives inside the home (`<home>/sandbox-pool`), unless a
    `pool_dir` is named (a faster disk, say): then in `<pool_dir>/<scope>`. Without a
    home (a bare runner, as benchmarks make) the pool belongs to its directory.
    """
    if home is not None and pool_dir is None:
        return home_scope(home), Path(home).resolve() / POOL_FOLDER
    base = pool_dir or DEFAULT_POOL_DIR
    scope = home_scope(home if home is not None else base)
    return scope, base / scope


@dataclass
class Slot(SlotFolders):
    path: Path
    container_id: str
    out: OutMount

    @property
    def fifo(self) -> Path:
        return self.job_dir / GO


def home_scope(owner: Path) -> str:
    """A short, stable name for one domain home's pool: its folder and its containers' label."""
    return hashlib.sha256(str(Path(owner).resolve()).encode()).hexdigest()[:12]


def scope_containers(client: Any, scope: str) -> list[Any]:
    """Every container of one home's pool, running or not; never another home's."""
    return list(client.containers.list(all=True, filters={"label": f"{HOME_LABEL}={scope}"}))


def pool_key(image: str, limits: Limits, config: dict[str, Any]) -> str:
    """Slots are interchangeable only with the same image, limits and container options."""
    content = json.dumps([image, limits.to_dict(), config], sort_keys=True, default=str)
    return hashlib.sha256(content.encode()).hexdigest()[:16]


def make_slot(
    client: Any,
    folder: Path,
    limits: Limits,
    container_options: Callable[[Path], dict[str, Any]],
    scope: str,
    claimed: bool = False,
) -> Slot:
    """Lay out a slot under `folder` and start its container, which waits on the FIFO.

    The container carries the slot's folder and the home's `scope` as labels. A slot
    made for a waiting job (`claimed`) is claimed before it is marked ready, so no
    other process can take it in between.
    """
    path = folder / uuid.uuid4().hex[:12]
    for sub in ("job", "data", "broker"):
        (path / sub).mkdir(parents=True, mode=0o755)
    os.mkfifo(path / "job" / GO, 0o644)
    out = OutMount.create(path / "out", limits, owner=SANDBOX_UID)
    if not out.mounted:  # not root: a plain folder the sandbox user can write
        os.chmod(path / "out", 0o777)
    try:
        options = container_options(path)
        options.setdefault("labels", {}).update({LABEL: str(path), HOME_LABEL: scope})
        container = client.containers.run(detach=True, **options)
    except BaseException:
        out.release()
        shutil.rmtree(path, ignore_errors=True)
        raise
    slot = Slot(path, container.id, out)
    try:
        _await_runtime(client, slot, time.monotonic() + START_TIMEOUT)
    except BaseException:
        destroy_slot(client, slot)
        raise
    if claimed:
        (path / CLAIMED).touch(mode=0o600)
    # Written whole, then renamed: a claimer never reads a half-written container id.
    partial = path / f".{READY}.partial"
    partial.write_text(container.id, "utf-8")
    os.replace(partial, path / READY)
    return slot


def claim_slot(client: Any, folder: Path) -> Slot | None:
    """Take a ready slot whose container still runs; None if there is none.

    A slot whose container died, or is being removed, is destroyed and the next one
    tried: a broken container is its own slot's problem, never the claiming job's.
    """
    if not folder.is_dir():
        return None
    for path in sorted(_live(folder)):
        if not (path / READY).exists():
            continue
        try:
            os.close(os.open(path / CLAIMED, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except (FileExistsError, FileNotFoundError):  # taken, or torn down meanwhile
            continue
        try:
            container_id = (path / READY).read_text("utf-8").strip()
        except FileNotFoundError:  # torn down between the claim and the read
            continue
        if not _CONTAINER_ID.fullmatch(container_id):  # never act on a partial id (a prefix)
            container_id = ""
        slot = _existing(path, container_id)
        try:
            usable = bool(container_id) and _running(client, container_id)
        except Exception:  # noqa: BLE001  the engine could not say: do not use it
            usable = False
        if usable:
            return slot
        discard_slot(client, slot)
    return None


def discard_slot(client: Any, slot: Slot) -> None:
    """Destroy a slot that failed before its job began, swallowing what the engine says:
    the caller goes on with another slot, and `prune` sweeps whatever is left."""
    try:
        destroy_slot(client, slot)
    except Exception:  # noqa: BLE001  the engine's trouble with one container, not the job's
        pass


def ready_slots(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(1 for p in _live(folder) if (p / READY).exists() and not (p / CLAIMED).exists())


def load_job(slot: Slot, job_dir: Path, data: dict[str, Path]) -> None:
    """Put the job's files in the slot (see `place_job`)."""
    place_job(job_dir, data, slot.job_dir, slot.data_dir)


def place_job(job_dir: Path, data: dict[str, Path], job_target: Path, data_target: Path) -> None:
    """Put a job's files in a pre-started sandbox's folders: spec and notebook copied,
    datasets hard-linked (copied when the store is on another filesystem)."""
    for source in job_dir.iterdir():
        target = job_target / source.name
        shutil.copyfile(source, target)
        os.chmod(target, 0o644)
    for name, source in data.items():
        target = data_target / f"{name}.parquet"
        try:
            os.link(Path(source).resolve(), target)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
            shutil.copyfile(source, target)
            os.chmod(target, 0o644)


def _await_runtime(client: Any, slot: Slot, deadline: float) -> None:
    """Wait until the container's runtime has loaded and is about to block on the FIFO
    (it marks /out/.sluice-ready), so a claimed slot starts its job at once."""
    mark = slot.out_dir / ".sluice-ready"
    checked = time.monotonic()
    while not mark.exists():
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(f"the sandbox container did not start within {START_TIMEOUT:.0f} s")
        if now - checked > 0.5:
            checked = now
            if not _running(client, slot.container_id):
                raise RuntimeError("the sandbox container stopped before its runtime was ready")
        time.sleep(0.005)
    mark.unlink()


def say_go(client: Any, slot: Slot, deadline: float) -> None:
    """Release the container's runtime: open the FIFO once it is reading, then close it."""
    checked = 0.0
    while True:
        try:
            fd = os.open(slot.fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: nobody reads yet
                raise
        else:
            os.close(fd)
            return
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(f"the sandbox container did not start within {START_TIMEOUT:.0f} s")
        if now - checked > 0.5:
            checked = now
            if not _running(client, slot.container_id):
                raise RuntimeError("the sandbox container stopped before its job began")
        time.sleep(0.002)


def destroy_slot(client: Any, slot: Slot) -> None:
    """Remove the container, unmount /out, delete the folder. Safe to repeat.

    The folder is first renamed out of sight (one atomic step), so no one can claim
    a slot that is being torn down.
    """
    if not slot.path.name.startswith("."):
        dead = _dead_name(slot.path)
        try:
            os.rename(slot.path, dead)
        except FileNotFoundError:
            pass
        else:
            slot.path, slot.out.path = dead, dead / "out"
    try:
        if slot.container_id:
            remove_container(client, slot.container_id)
    finally:
        slot.out.release()
        shutil.rmtree(slot.path, ignore_errors=True)


def remove_container(client: Any, container_id: str) -> bool:
    """Force-remove a container; True once it is gone or another caller is removing it.

    Removing a container already gone (404) or already being removed (409 "removal
    in progress", or "dead") is success: cleanup may run twice, from two processes.
    """
    import docker.errors

    try:
        client.api.remove_container(container_id, force=True)
    except docker.errors.NotFound:
        return True
    except docker.errors.APIError as error:
        if error.status_code != 409:
            raise
    return True


def prune(client: Any, root: Path, scope: str) -> int:
    """Destroy one home's slots whose container is gone, and its containers whose slot
    is gone; `root` is that home's pool folder, `scope` its label."""
    removed = 0
    if root.is_dir():
        for key in root.iterdir():
            for path in key.iterdir() if key.is_dir() else []:
                ready = path / READY
                if not ready.exists() or (path / CLAIMED).exists():
                    continue
                container_id = ready.read_text("utf-8")
                if not _running(client, container_id):
                    destroy_slot(client, _existing(path, container_id))
                    removed += 1
    for container in scope_containers(client, scope):
        slot = container.labels.get(LABEL)
        if slot and not Path(slot).exists() and not Path(_dead_name(Path(slot))).exists():
            remove_container(client, container.id)
            removed += 1
    return removed


def _dead_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.dead")


def _live(folder: Path) -> list[Path]:
    """Slot folders not being torn down (those are renamed to .<name>.dead)."""
    return [p for p in folder.iterdir() if not p.name.startswith(".")]


def _existing(path: Path, container_id: str) -> Slot:
    return Slot(path, container_id, OutMount(path / "out", mounted=os.path.ismount(path / "out")))


def _running(client: Any, container_id: str) -> bool:
    import docker.errors

    try:
        return bool(client.containers.get(container_id).status == "running")
    except docker.errors.NotFound:
        return False
