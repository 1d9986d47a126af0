"""The escape suite: every probe tries to get out, on both backends; every one must fail.

Static probes run together in one job per backend (each in its own try block, so
one cannot mask another) and report per probe; resource bombs run one job each.
Around all of them the host is checked unchanged: the domain's files, its
processes, its mounts, and (docker) its containers.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.home import Home
from sandbox import Runner
from sandbox.pool import scope_containers
from tests.sandbox.conftest import BACKENDS, log_of, probe, run_job

SECRET = "sluice-secret-7f3a9c"

# name -> code that succeeds only if the wall is broken. Each runs in
# `attempt(name, code)`: an exception, or a falsy `escaped`, means the wall held.
PROBES: dict[str, str] = {
    "tcp_outbound": "socket.create_connection(('1.1.1.1', 443), timeout=2)",
    "tcp_host_loopback": "socket.create_connection(('127.0.0.1', HOST_PORT), timeout=2)",
    "udp_outbound": "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', "
    "('8.8.8.8', 53))",
    "dns_lookup": "socket.getaddrinfo('pypi.org', 443)",
    "raw_socket": "socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)",
    "read_shadow": "open('/etc/shadow').read()",
    "read_sluice_database": "open(HOME + '/sluice.db', 'rb').read()",
    "read_signing_key": "open(HOME + '/keys/domain-ed25519.pem').read()",
    "read_pseudonym_key": "open(HOME + '/keys/pseudonym.key', 'rb').read()",
    "read_raw_file": "open(RAW, 'rb').read()",
    "read_unlicensed_dataset": "open(OTHER, 'rb').read()",
    "list_unlicensed_in_data": "escaped = os.listdir('/data') != ['enterprise_utilities.parquet']",
    "write_root": "open('/evil', 'w').write('x')",
    "write_etc": "open('/etc/passwd', 'a').write('x')",
    "write_into_data": "open('/data/extra.parquet', 'w').write('x')",
    "overwrite_dataset": "open('/data/enterprise_utilities.parquet', 'r+b').write(b'x')",
    "write_job_spec": "open('/job/spec.json', 'w').write('{}')",
    "write_runtime_code": "open('/runtime/sluice_runtime/__init__.py', 'a').write('#')",
    "write_dev": "open('/dev/evil', 'w').write('x')",
    "docker_socket": "s = socket.socket(socket.AF_UNIX); s.settimeout(2); "
    "s.connect('/var/run/docker.sock')",
    "docker_socket_run": "s = socket.socket(socket.AF_UNIX); s.settimeout(2); "
    "s.connect('/run/docker.sock')",
    "host_proc_of_test": "open(f'/proc/{HOST_PID}/environ', 'rb').read(); "
    "escaped = SECRET.encode() in open(f'/proc/{HOST_PID}/environ', 'rb').read()",
    "host_process_signal": "os.kill(HOST_PID, 0); escaped = HOST_PID_VISIBLE()",
    "secret_in_any_environ": "escaped = any(SECRET.encode() in open(f'/proc/{p}/environ', 'rb')"
    ".read() for p in os.listdir('/proc') if p.isdigit())",
    "secret_in_env": "escaped = any(SECRET in k or SECRET in v for k, v in os.environ.items())",
    "host_tmp_visible": "escaped = os.path.exists(CANARY)",
    "mount_tmpfs": "os.makedirs('/tmp/m', exist_ok=True); "
    "escaped = libc.mount(b'tmpfs', b'/tmp/m', b'tmpfs', 0, None) == 0",
    "remount_root_rw": "escaped = libc.mount(None, b'/', None, 32 | 0x20, None) == 0",
    "setuid_root": "os.setuid(0)",
    "setresuid_root": "os.setresuid(0, 0, 0)",
    "capabilities": "escaped = int(status()['CapEff'], 16) or int(status()['CapBnd'], 16)",
    "no_new_privs_off": "escaped = status()['NoNewPrivs'].strip() != '1'",
    "ptrace_pid1": "escaped = libc.ptrace(16, 1, 0, 0) == 0",
    "ptrace_parent": "escaped = libc.ptrace(16, os.getppid(), 0, 0) == 0",
    "ptrace_runtime_from_child": "escaped = traced_by_child()",
    "new_user_namespace": "escaped = libc.unshare(0x10000000) == 0",
    "chroot": "os.chroot('/tmp')",
    "mknod_block_device": "os.mknod('/tmp/sda', 0o060600, os.makedev(8, 0))",
    "sysctl_write": "open('/proc/sys/kernel/hostname', 'w').write('evil')",
    "host_sysctl_write": "open('/proc/sys/fs/file-max', 'w').write(open('/proc/sys/fs/file-max')"
    ".read())",
    "sysrq_trigger_open": "open('/proc/sysrq-trigger', 'w')",  # opened only: nothing written
    "irq_affinity_write": "open('/proc/irq/default_smp_affinity', 'w').write("
    "open('/proc/irq/default_smp_affinity').read())",
    "kernel_log": "open('/dev/kmsg').read(1)",
}

STATIC_JOB = """
import ctypes, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
HOME, RAW, OTHER, CANARY = {home!r}, {raw!r}, {other!r}, {canary!r}
HOST_PORT, HOST_PID, SECRET = {port}, {pid}, {secret!r}

def status():
    return dict(line.split(":", 1) for line in open("/proc/self/status"))

def HOST_PID_VISIBLE():
    # a pid inside can equal the host's by chance: only its cmdline could tell
    return b"pytest" in open(f"/proc/{{HOST_PID}}/cmdline", "rb").read()

def traced_by_child():
    # as a notebook's kernel would: a child attaching to the runtime above it
    parent = os.getpid()
    child = os.fork()
    if child == 0:
        os._exit(0 if libc.ptrace(16, parent, 0, 0) == 0 else 1)
    return os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0

results = {{}}
for name, code in json.loads({probes!r}).items():
    scope = dict(globals())
    scope["escaped"] = True
    try:
        exec(code, scope)
        results[name] = "ESCAPED" if scope["escaped"] else "held"
    except BaseException as exc:
        results[name] = "held: " + type(exc).__name__
json.dump(results, open("/out/probes.json", "w"))
"""


@pytest.fixture(scope="module")
def domain_home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """A domain home on the host with keys, a database, raw and stored files."""
    home = Home(tmp_path_factory.mktemp("sluice-home") / "home")
    home.create()
    home.database.write_bytes(b"SQLite format 3\0 pretend")
    (home.store / "social_insurance").mkdir()
    (home.store / "social_insurance" / "data.parquet").write_bytes(b"PAR1 other dataset")
    (home.root / "raw.csv").write_text("enterprise_id,legal_person\n1,张三\n", "utf-8")
    return home


def fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def host_canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    canary = tmp_path_factory.mktemp("canary") / "host-only.txt"
    canary.write_text("only the host sees this")
    return canary


@pytest.fixture(scope="module", params=BACKENDS)
def escape_results(
    request: pytest.FixtureRequest,
    runners: dict[str, Runner],
    domain_home: Home,
    host_canary: Path,
    utilities_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, dict[str, str]]]:
    """Run every static probe in one job on one backend, the host watched around it."""
    runner = runners[request.param]
    before = fingerprint(domain_home.root)
    work = tmp_path_factory.mktemp(f"escape-{request.param}") / "work"
    with socket.socket() as listener, pytest.MonkeyPatch.context() as patch:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        patch.setenv("SLUICE_TEST_SECRET", SECRET)
        code = STATIC_JOB.format(
            home=str(domain_home.root),
            raw=str(domain_home.root / "raw.csv"),
            other=str(domain_home.store / "social_insurance" / "data.parquet"),
            canary=str(host_canary),
            port=listener.getsockname()[1],
            pid=os.getpid(),
            secret=SECRET,
            probes=json.dumps(PROBES),
        )
        data = {"enterprise_utilities": utilities_file}
        result = run_job(runner, work, {"kind": "probe", "code": code}, data)
    assert result.ok, log_of(result)
    assert fingerprint(domain_home.root) == before
    yield request.param, json.loads((work / "out" / "probes.json").read_text("utf-8"))


@pytest.mark.parametrize("name", list(PROBES))
def test_probe_fails_inside(escape_results: tuple[str, dict[str, str]], name: str) -> None:
    backend, results = escape_results
    assert results[name].startswith("held"), f"{name} on {backend}: {results[name]}"


def test_suite_is_large_enough() -> None:
    assert len(PROBES) + len(BOMBS) >= 25


# --- resource bombs and /out tricks: one job each, the host checked after ---------------

BOMBS: dict[str, tuple[str, dict[str, int], str]] = {
    "fork_bomb": (
        """
        import os
        for _ in range(11):
            try:
                os.fork()
            except OSError:
                pass
        os.execv("/bin/sleep", ["sleep", "978.4321"])
        """,
        {"processes": 32, "wall_seconds": 60},
        "limit:processes",
    ),
    "memory_bomb": (
        """
        hoard = []
        while True:
            hoard.append(bytearray(32 * 1024 * 1024))
        """,
        {"memory_mb": 256},
        "limit:memory_mb",
    ),
    "disk_fill_out": (
        """
        import os
        n = 0
        while True:
            with open(f"/out/fill{n % 5}.bin", "ab") as f:
                f.write(os.urandom(256 * 1024))
            n += 1
        """,
        {"output_bytes": 2_000_000, "output_files": 10},
        "limit:output_bytes",
    ),
    "many_files_out": (
        """
        n = 0
        while True:
            open(f"/out/f{n}.csv", "w").write("1")
            n += 1
        """,
        {"output_files": 5},
        "limit:output_files",
    ),
    "endless_loop": ("while True:\n    pass\n", {"wall_seconds": 2}, "limit:wall_seconds"),
    "cpu_burn": (
        "while True:\n    pass\n",
        {"cpu_seconds": 1, "wall_seconds": 60},
        "limit:cpu_seconds",
    ),
    "symlink_out_to_host": (
        "import os\nos.symlink('/etc/passwd', '/out/passwd')\nopen('/out/ok.csv', 'w').write('1')",
        {},
        "rule:regular_files_only",
    ),
    "hard_link_out": (
        "import os\nopen('/out/a.csv', 'w').write('1')\nos.link('/out/a.csv', '/out/b.csv')",
        {},
        "rule:regular_files_only",
    ),
    "tmp_fill": (
        """
        with open("/tmp/fill.bin", "wb") as f:
            while True:
                f.write(b"x" * 1024 * 1024)
        """,
        {"output_bytes": 1_000_000_000},
        "",
    ),
}


def host_processes_with(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


def host_state(work: Path) -> dict[str, Any]:
    mounts = Path("/proc/mounts").read_text()
    return {"mounts_under_work": str(work) in mounts, "sleepers": host_processes_with("978.4321")}


@pytest.mark.parametrize("bomb", list(BOMBS))
def test_bomb_is_contained(runner: Runner, backend: str, tmp_path: Path, bomb: str) -> None:
    code, limits, expected = BOMBS[bomb]
    result = probe(runner, tmp_path / "work", textwrap.dedent(code), **limits)
    if expected:
        assert result.failure == expected, log_of(result)
    else:  # /tmp is the sandbox's own small tmpfs: filling it fails the job, nothing else
        assert not result.ok and result.failure is not None
    assert result.outputs == [] and list((tmp_path / "work" / "out").iterdir()) == []
    assert host_state(tmp_path / "work") == {"mounts_under_work": False, "sleepers": []}
    if backend == "docker":
        assert leftover_containers(runner) == []


def leftover_containers(runner: Runner) -> list[str]:
    runner.settle()  # type: ignore[attr-defined]
    found = scope_containers(runner.client, runner.scope)  # type: ignore[attr-defined]
    return [c.id for c in found]
