"""The runtime image for the docker backend, built without pulling any image.

Debian comes from the host's configured apt mirror (debootstrap), the runtime's
Python packages from the host's pip configuration (installed as wheels for the
image's Python straight into its root), and the root is `docker import`ed. The
tag is a hash of everything that went in, so a machine builds it once. The code
of the runtime itself is not in the image: it is mounted read-only at /runtime.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InvalidInput

RECIPE_VERSION = "2"  # 2: bytecode compiled in the image
REPOSITORY = "sluice-runtime"
REQUIREMENTS = Path(__file__).resolve().parent / "runtime" / "requirements.txt"
INCLUDE = ("python3",)
TRIM: tuple[str, ...] = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale")
TRIM += ("var/cache/apt", "var/lib/apt/lists", "var/log")
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LOCK = Path(tempfile.gettempdir()) / "sluice-image-build.lock"


@dataclass(frozen=True)
class Mirror:
    """Where debootstrap fetches Debian from: the host's own apt source."""

    uri: str
    suite: str


def _entries(text: str, deb822: bool) -> Iterator[tuple[str, str, list[str]]]:
    """(uri, suite, components) of each enabled binary source in one file."""
    if not deb822:
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if words[:1] == ["deb"]:
                words = [w for w in words[1:] if not w.startswith("[")]
                if len(words) >= 3:
                    yield words[0], words[1], words[2:]
        return
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith(("#", " ")):
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled") == "no":
            continue
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                yield uri, suite, fields.get("components", "").split()


def apt_mirror(etc_apt: Path = Path("/etc/apt")) -> Mirror:
    """The first configured Debian release source with `main` (not -updates/-security)."""
    files = [(etc_apt / "sources.list", False)]
    folder = etc_apt / "sources.list.d"
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.suffix in (".list", ".sources"):
                files.append((path, path.suffix == ".sources"))
    for path, deb822 in files:
        try:
            text = path.read_text("utf-8")
        except OSError:
            continue
        for uri, suite, components in _entries(text, deb822):
            if "main" in components and "-" not in suite and "/" not in suite:
                return Mirror(uri.rstrip("/"), suite)
    raise InvalidInput.coded("sandbox_no_debian_source", folder=str(etc_apt))


def recipe(mirror: Mirror) -> dict[str, Any]:
    """Everything that decides the image's content; its hash names the image."""
    return {
        "recipe": RECIPE_VERSION,
        "mirror": mirror.uri,
        "suite": mirror.suite,
        "include": list(INCLUDE),
        "requirements": REQUIREMENTS.read_text("utf-8"),
        "machine": platform.machine(),
    }


def image_tag(mirror: Mirror | None = None) -> str:
    content = json.dumps(recipe(mirror or apt_mirror()), sort_keys=True).encode()
    return f"{REPOSITORY}:{hashlib.sha256(content).hexdigest()[:16]}"


def image_present(client: Any, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


@contextmanager
def _build_lock() -> Iterator[None]:
    """One build per machine at a time; a second caller waits, then finds the image."""
    with open(LOCK, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def ensure_image(
    client: Any, tag: str | None = None, log: Callable[[str], None] = print
) -> tuple[str, bool]:
    """The runtime image's tag, built if missing; returns (tag, built)."""
    mirror = apt_mirror()
    tag = tag or image_tag(mirror)
    if image_present(client, tag):
        return tag, False
    with _build_lock():
        if image_present(client, tag):
            return tag, False
        build_image(client, tag, mirror, log)
    return tag, True


# The steps of an image build, by name: what the log says while each runs.
BUILD_STEPS = {
    "debootstrap": "debootstrapping Debian",
    "python": "asking the image's Python",
    "packages": "installing the runtime's Python packages",
    "bytecode": "compiling the packages' bytecode",
}


def _run(args: list[str], log: Callable[[str], None], step: str) -> str:
    log(f"  {BUILD_STEPS[step]}")
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise _build_failed(step, proc.returncode, tail)
    return proc.stdout


def _build_failed(step: str, status: int, tail: str) -> InvalidInput:
    """One code per build step, so no step's English is spliced into another language."""
    if step == "debootstrap":
        return InvalidInput.coded("sandbox_build_debootstrap_failed", exit_status=status, tail=tail)
    if step == "python":
        return InvalidInput.coded("sandbox_build_python_failed", exit_status=status, tail=tail)
    if step == "packages":
        return InvalidInput.coded("sandbox_build_packages_failed", exit_status=status, tail=tail)
    return InvalidInput.coded("sandbox_build_bytecode_failed", exit_status=status, tail=tail)


def build_prerequisites() -> list[str]:
    """What is missing on this host for `build_image`, as sentences."""
    problems = []
    if os.geteuid() != 0:
        problems.append("building the image needs root (debootstrap and chroot)")
    if shutil.which("debootstrap") is None:
        problems.append("debootstrap is not installed (Debian package debootstrap)")
    return problems


def _refuse_unbuildable() -> None:
    """What `build_prerequisites` says, as a refusal: one code per missing prerequisite."""
    not_root, no_tool = os.geteuid() != 0, shutil.which("debootstrap") is None
    if not_root and no_tool:
        raise InvalidInput.coded("sandbox_build_needs_root_and_debootstrap")
    if not_root:
        raise InvalidInput.coded("sandbox_build_needs_root")
    if no_tool:
        raise InvalidInput.coded("sandbox_build_needs_debootstrap")


def build_image(client: Any, tag: str, mirror: Mirror, log: Callable[[str], None] = print) -> None:
    """debootstrap → wheels into the root → trim → docker import as `tag`."""
    _refuse_unbuildable()
    log(f"building {tag} from {mirror.uri} {mirror.suite}")
    with tempfile.TemporaryDirectory(prefix="sluice-image-", dir="/var/tmp") as scratch:
        root = Path(scratch) / "root"
        include = ",".join(INCLUDE)
        debootstrap = ["debootstrap", "--variant=minbase", f"--include={include}"]
        _run([*debootstrap, mirror.suite, str(root), mirror.uri], log, "debootstrap")
        version, glibc = _run(
            ["chroot", str(root), "python3", "-c", _PYTHON_FACTS], log, "python"
        ).split()
        target = root / "usr" / "local" / "lib" / f"python{version}" / "dist-packages"
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile"]
        pip += ["--target", str(target), "--only-binary=:all:", "--implementation", "cp"]
        pip += ["--python-version", version, *_platforms(glibc), "-r", str(REQUIREMENTS)]
        _run(pip, log, "packages")
        # Bytecode made now, by the image's own Python: the container's root is
        # read-only, so without it every job compiles numpy, pandas and scikit-learn
        # from source (over a minute for fit() on a busy host). unchecked-hash pycs
        # do not depend on file times, so the same inputs give the same files.
        site = f"/usr/local/lib/python{version}/dist-packages"
        compile_all = ["python3", "-m", "compileall", "-q", "--invalidation-mode"]
        compile_all += ["unchecked-hash", site]
        _run(["chroot", str(root), *compile_all], log, "bytecode")
        _trim(root)
        (root / "etc" / "sluice-image.json").write_text(
            json.dumps(recipe(mirror), indent=2), "utf-8"
        )
        _import(client, root, tag, log)
    log(f"built {tag}")


_PYTHON_FACTS = (
    "import platform, sys; "
    "print(f'{sys.version_info[0]}.{sys.version_info[1]}', platform.libc_ver()[1])"
)


def _platforms(glibc: str) -> list[str]:
    """pip's --platform list for manylinux wheels this glibc can load."""
    machine = platform.machine()
    major, minor = (int(part) for part in glibc.split(".")[:2])
    tags = [f"manylinux_{major}_{m}_{machine}" for m in range(17, minor + 1)]
    tags.append(f"manylinux2014_{machine}")
    return [arg for tag in tags for arg in ("--platform", tag)]


def _trim(root: Path) -> None:
    """Drop docs and caches, and every setuid/setgid bit: no binary inside may raise
    privileges, whatever else fails."""
    for relative in TRIM:
        target = root / relative
        if target.is_dir():
            shutil.rmtree(target)
            target.mkdir()
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode) and mode & (stat.S_ISUID | stat.S_ISGID):
                os.chmod(path, stat.S_IMODE(mode) & ~(stat.S_ISUID | stat.S_ISGID))


def _import(client: Any, root: Path, tag: str, log: Callable[[str], None]) -> None:
    log("  importing into docker")
    repository, version = tag.rsplit(":", 1)
    changes = [
        "USER 65534:65534",
        "WORKDIR /tmp",
        f"ENV PATH={IMAGE_PATH}",
        "ENV LANG=C.UTF-8",
        f"LABEL org.sluice.recipe={version}",
    ]
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "-C", str(root), "-cf", "-", "."],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert tar.stdout is not None
    try:
        client.api.import_image(
            src=tar.stdout, repository=repository, tag=version, changes=changes, stream_src=True
        )
    finally:
        tar.stdout.close()
        if tar.wait() != 0:
            raise InvalidInput.coded(
                "sandbox_build_tar_failed", root=str(root), exit_status=tar.returncode
            )
    if not image_present(client, tag):
        raise InvalidInput.coded("sandbox_build_not_imported", tag=tag)
