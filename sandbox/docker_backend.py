"""The docker backend: each job in its own container, through the docker SDK for Python.

Every container has no network, a read-only root, no capabilities, no new
privileges, the nobody user, memory/CPU/pids limits and a small /tmp; it mounts
/job and /data read-only and /out (a size-limited tmpfs) writable. Each runs one
job and is removed after it; its logs go to the job's sandbox.log first. With a
warm pool, containers are started ahead of demand (see sandbox/pool.py); the pool
belongs to one domain home, in its own folder under the pool directory.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.failures import FailureKind, JobFailure
from sandbox.cgroups import container_cgroups, cpu_seconds, oom_kills, pids_refused
from sandbox.container_state import ContainerGone, exit_status, final_state, read_logs
from sandbox.limits import Limits, breach, rlimits
from sandbox.pool import (
    SANDBOX_UID,
    START_TIMEOUT,
    Slot,
    claim_slot,
    destroy_slot,
    discard_slot,
    load_job,
    make_slot,
    pool_key,
    pool_of,
    prune,
    ready_slots,
    say_go,
)
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
SANDBOX_USER = "65534:65534"
POLL = 0.05  # seconds between looks at a running job's cgroup and clock
# Upkeep runs on one worker thread; concurrent.futures joins it when Python exits.
# Two threads, so removing used containers keeps pace with starting their
# replacements under a burst of jobs; refills take _FILLING, so two never overshoot.
_UPKEEP = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sluice-pool")
_FILLING = threading.Lock()
_QUEUED: set[Future[object]] = set()  # every runner's upkeep not yet done, in this process
_QUEUED_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def runtime_digest() -> str:
    """The runtime code a warm container has loaded: slots of other code are not reused."""
    digest = hashlib.sha256(str(RUNTIME_DIR).encode())
    for path in sorted(RUNTIME_DIR.rglob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:8]


@functools.lru_cache(maxsize=1)
def _engine_problem() -> str | None:
    try:
        import docker
    except ImportError:
        return "the docker package for Python is not installed"
    try:
        docker.from_env(timeout=5).ping()
    except Exception as exc:  # the SDK raises several kinds for "no engine"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return (
            f"no Docker engine answers ({first[:160]}); start dockerd (scripts/services/docker.sh)"
        )
    return None


def unavailable_reason(image: str | None = None) -> str | None:
    """None if docker can sandbox a job here, else why not (engine, then image)."""
    problem = _engine_problem()
    if problem is not None:
        return problem
    import docker

    from sandbox.image import image_present, image_tag

    try:
        tag = image or image_tag()
    except Exception as exc:
        return f"cannot name the runtime image: {exc}"
    if not image_present(docker.from_env(), tag):
        return f"the runtime image {tag} is not built; build the runtime image first"
    return None


def engine_answers() -> bool:
    return _engine_problem() is None


@dataclass
class DockerHandle(Handle):
    slot: Slot | None = None
    killed_for: JobFailure | None = None
    cgroups: dict[str, Path] = field(default_factory=dict)
    cpu_before: float = 0.0  # the container's CPU when its job was handed over (warm-up)


class DockerRunner:
    """Runs jobs in containers of the runtime image; `pool_size` keeps that many warm,
    in the pool of the domain `home` (its own folder under `pool_dir`, its own label)."""

    name = "docker"

    def __init__(
        self,
        *,
        allow_probes: bool = False,
        image: str | None = None,
        pool_size: int = 0,
        pool_dir: Path | None = None,
        pool_limits: Limits | None = None,
        tmpfs_mb: int = 256,
        client: Any = None,
        home: Path | None = None,
    ) -> None:
        import docker

        from sandbox.image import image_tag

        self.client = client or docker.from_env(timeout=120)
        self.image = image or image_tag()
        self.allow_probes = allow_probes
        self.pool_size = pool_size
        self.scope, self.pool_dir = pool_of(home, pool_dir)
        self.pool_limits = pool_limits or Limits()
        self.tmpfs_mb = tmpfs_mb
        self._pending: list[Future[object]] = []

    # --- the container's configuration ------------------------------------------

    def environment(self) -> dict[str, str]:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp",
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "PYTHONPATH": "/runtime",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MALLOC_ARENA_MAX": "2",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
        }
        if self.allow_probes:
            env["SLUICE_ALLOW_PROBES"] = "1"
        return env

    def container_options(self, limits: Limits, slot_path: Path) -> dict[str, Any]:
        """What `containers.run` gets for a slot at `slot_path`: every wall, by name."""
        from docker.types import LogConfig, Mount, Ulimit

        ulimits = [
            Ulimit(name=_ULIMIT_NAMES[which], soft=soft, hard=hard)
            for which, (soft, hard) in rlimits(limits).items()
            if which in _ULIMIT_NAMES
        ]
        mounts = [
            Mount("/runtime", str(RUNTIME_DIR), type="bind", read_only=True),
            Mount("/job", str(slot_path / "job"), type="bind", read_only=True),
            Mount("/data", str(slot_path / "data"), type="bind", read_only=True),
            Mount("/out", str(slot_path / "out"), type="bind", read_only=False),
            # empty unless the job has a broker (a notebook): then its socket alone
            Mount(BROKER_MOUNT, str(slot_path / "broker"), type="bind", read_only=True),
        ]
        memory = f"{limits.memory_mb}m"
        command = ["python3", "-s", "-P", "-m", "sluice_runtime"]
        command += ["--await", "/job/.go", f"/job/{SPEC_NAME}"]
        return {
            "image": self.image,
            "command": command,
            "user": SANDBOX_USER,
            "network_mode": "none",
            "read_only": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true"],
            "mem_limit": memory,
            "memswap_limit": memory,
            "nano_cpus": limits.cpus * 1_000_000_000,
            "pids_limit": limits.processes,
            "ulimits": ulimits,
            "tmpfs": {"/tmp": f"rw,nosuid,nodev,noexec,size={self.tmpfs_mb}m,mode=1777"},
            "mounts": mounts,
            "environment": self.environment(),
            "working_dir": "/tmp",
            "hostname": "sluice-sandbox",
            "ipc_mode": "private",
            # No docker-init: the runtime is pid 1 and not dumpable, so nothing inside
            # can ptrace a process that is not its own.
            "init": False,
            # Removed by its owner once logs and exit status are read (wait, then cleanup).
            "auto_remove": False,
            "log_config": LogConfig(type="json-file", config={"max-size": "2m", "max-file": "1"}),
        }

    def _folder(self, limits: Limits) -> Path:
        sample = self.container_options(limits, Path("/slot"))
        sample.pop("ulimits"), sample.pop("log_config"), sample.pop("mounts")
        return self.pool_dir / f"{runtime_digest()}-{pool_key(self.image, limits, sample)}"

    def _drain_stale(self) -> None:
        """Destroy waiting containers that hold runtime code other than this one's."""
        if not self.pool_dir.is_dir():
            return
        for folder in self.pool_dir.iterdir():
            if folder.is_dir() and not folder.name.startswith(runtime_digest()):
                while (slot := claim_slot(self.client, folder)) is not None:
                    destroy_slot(self.client, slot)

    def _new_slot(self, limits: Limits, claimed: bool = False) -> Slot:
        folder = self._folder(limits)
        folder.mkdir(parents=True, exist_ok=True)
        options = functools.partial(self.container_options, limits)
        return make_slot(self.client, folder, limits, options, self.scope, claimed)

    # --- the warm pool -------------------------------------------------------------

    def fill_pool(self) -> int:
        """Start containers until `pool_size` wait for the default limits; returns how many."""
        started = 0
        with _FILLING:
            self._drain_stale()
            while ready_slots(self._folder(self.pool_limits)) < self.pool_size:
                self._new_slot(self.pool_limits)
                started += 1
        return started

    def drain_pool(self) -> None:
        """Destroy every waiting container of this runner's pools."""
        for future in self._pending:  # upkeep first; its failures do not stop the drain
            future.exception()
        self._pending = []
        _await_all_upkeep()
        if not self.pool_dir.is_dir():
            return
        for folder in self.pool_dir.iterdir():
            while (slot := claim_slot(self.client, folder)) is not None:
                destroy_slot(self.client, slot)

    # --- Runner ------------------------------------------------------------------------

    def start(self, run: SandboxRun) -> DockerHandle:
        prepare_work_dir(run)
        handle = DockerHandle(run=run, started=time.monotonic())
        try:
            self._begin(handle)
            if self.pool_size and run.limits == self.pool_limits:
                self._later(self.fill_pool)
        except BaseException:
            self.cleanup(handle)
            raise
        return handle

    def _begin(self, handle: DockerHandle) -> None:
        """Give the job a slot and let it go. A warm container that fails before the job
        began (it died, or is being removed) is discarded and another slot tried, so a
        broken container never fails a job; a fresh container's failure is the job's."""
        run = handle.run
        for _ in range(WARM_TRIES):
            slot = claim_slot(self.client, self._folder(run.limits))
            if slot is None:
                break
            try:
                self._go(handle, slot)
                return
            except Exception:  # noqa: BLE001  this container's trouble: try another
                handle.slot = None
                discard_slot(self.client, slot)
        self._go(handle, self._new_slot(run.limits, claimed=True))

    def _go(self, handle: DockerHandle, slot: Slot) -> None:
        handle.slot = slot
        attach_broker(handle.run, slot.path / "broker", owner=SANDBOX_UID)
        load_job(slot, handle.run.job_dir, handle.run.data)
        # Read while the container waits for its job: a job that ends at once leaves a
        # zombie whose /proc entry names the host's root cgroups (cgroup v1 moves an
        # exiting task there), and the host's CPU would be counted as the job's.
        handle.cgroups = container_cgroups(self.client, slot.container_id)
        handle.cpu_before = cpu_seconds(handle.cgroups)
        handle.started = time.monotonic()
        say_go(self.client, slot, time.monotonic() + START_TIMEOUT)

    def wait(self, handle: Handle) -> SandboxResult:
        """Watch the job under its limits, then read everything the container can tell
        (exit status, then logs, then its final state) while it still exists: the
        container is removed only afterwards, by `cleanup`."""
        h = _own(handle)
        container_id = _container_of(h)
        cpu = self._watch(h)
        seconds = time.monotonic() - h.started
        ended = exit_status(self.client, container_id, START_TIMEOUT)
        with open(h.run.log_path, "wb") as log_file:
            log = JobLog(log_file)
            for is_stderr in (False, True):
                try:
                    log.write(read_logs(self.client, container_id, is_stderr), is_stderr=is_stderr)
                except ContainerGone as gone:
                    log.note(f"{'stderr' if is_stderr else 'stdout'} unavailable: {gone}")
            state = final_state(self.client, container_id) or ended
            killed_for = h.killed_for or (breach("memory_mb") if state.get("OOMKilled") else None)
            exit_code = state.get("ExitCode")
            if killed_for:
                log.note(f"killed: {killed_for}")
            elif exit_code is None:
                # The engine lost the container before it could say how the job ended:
                # this job fails (and says why); no other job is touched.
                killed_for = JobFailure(FailureKind.ERROR, _GONE)
            return conclude(
                h.run,
                log,
                exit_code=None if killed_for else int(exit_code or 0),
                killed_for=killed_for,
                cpu_seconds=cpu,
                seconds=seconds,
                out_dir=h.slot.out_dir if h.slot else None,
            )

    def _watch(self, h: DockerHandle) -> float:
        """Poll the running job's state, cgroups and clock; kill it on a breach. Returns
        the CPU seconds it used. Ends when the container stopped (or is gone)."""
        from docker.errors import APIError, NotFound

        container_id = _container_of(h)
        limits = h.run.limits
        deadline = h.started + limits.wall_seconds
        cpu = 0.0
        while True:
            try:
                status = self.client.api.inspect_container(container_id)["State"]["Status"]
            except NotFound:
                return cpu
            if status not in ("running", "created", "restarting"):
                return cpu
            cpu = max(cpu, cpu_seconds(h.cgroups) - h.cpu_before)
            if time.monotonic() >= deadline:
                h.killed_for = breach("wall_seconds")
            elif pids_refused(h.cgroups):
                h.killed_for = breach("processes")
            elif oom_kills(h.cgroups):  # a child (a notebook's kernel) was OOM-killed
                h.killed_for = breach("memory_mb")
            elif cpu > limits.cpu_seconds + 1:
                h.killed_for = breach("cpu_seconds")
            if h.killed_for:
                try:
                    self.client.api.kill(container_id)
                except (NotFound, APIError) as error:  # ended on its own since the check
                    if not isinstance(error, NotFound) and error.status_code != 409:
                        raise
                return cpu
            time.sleep(POLL)

    def cleanup(self, handle: Handle) -> None:
        """Destroy the job's container and slot, in the background: its outputs and
        logs are saved by now (`settle` waits for it)."""
        h = _own(handle)
        if h.slot is not None:
            slot, h.slot = h.slot, None
            self._later(lambda: destroy_slot(self.client, slot))

    def _later(self, task: Callable[[], object]) -> None:
        """Pool upkeep off the job's path, all done before exit."""
        self._pending = [f for f in self._pending if not f.done()]
        future = _UPKEEP.submit(task)
        with _QUEUED_LOCK:
            _QUEUED.add(future)
        future.add_done_callback(_forget)
        self._pending.append(future)

    def settle(self) -> None:
        """Wait for pending upkeep (removals, refills), this runner's and every other
        runner's in this process (a job path makes a runner per job); raise what any of
        this runner's raised."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()
        _await_all_upkeep()


def _forget(future: Future[object]) -> None:
    with _QUEUED_LOCK:
        _QUEUED.discard(future)


def _await_all_upkeep() -> None:
    with _QUEUED_LOCK:
        queued = list(_QUEUED)
    wait(queued)


# RLIMIT number -> docker's ulimit name; the address-space limit is left to the memory cgroup.
def _ulimit_names() -> dict[int, str]:
    import resource

    return {
        resource.RLIMIT_CPU: "cpu",
        resource.RLIMIT_FSIZE: "fsize",
        resource.RLIMIT_NOFILE: "nofile",
        resource.RLIMIT_CORE: "core",
    }


_ULIMIT_NAMES = _ulimit_names()


_GONE = "the sandbox container was removed before its exit status could be read"
WARM_TRIES = 3  # warm slots a job tries before it starts a container of its own


def _container_of(handle: DockerHandle) -> str:
    if handle.slot is None:
        raise RuntimeError("the job has no container (it was not started)")
    return handle.slot.container_id


def _own(handle: Handle) -> DockerHandle:
    if not isinstance(handle, DockerHandle):
        raise TypeError(f"not a docker handle: {handle!r}")
    return handle


def remove_leftovers(home: Path | None = None, pool_dir: Path | None = None) -> int:
    """A home's containers and slots left by a crashed process (see pool.prune)."""
    import docker

    scope, folder = pool_of(home, pool_dir)
    return prune(docker.from_env(), folder, scope)
