"""The Python that runs inside a bubblewrap sandbox: this one, remapped to /python and /venv."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Interpreter:
    """This Python and its venv, as the sandbox sees them: /python and /venv.

    Remapped rather than bound at their host paths so no host folder (/root,
    /work, a user's home) appears inside, not even as an empty parent.
    """

    base_prefix: Path
    prefix: Path
    binary: Path  # the real executable, inside base_prefix

    @classmethod
    def current(cls) -> Interpreter:
        base = Path(sys.base_prefix)
        binary = Path(os.path.realpath(sys.executable))
        if not binary.is_relative_to(base):  # a venv made from a symlinked python
            binary = base / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
        return cls(base, Path(sys.prefix), binary)

    @property
    def has_venv(self) -> bool:
        return self.prefix != self.base_prefix

    @property
    def executable(self) -> str:
        return "/venv/bin/python" if self.has_venv else self._inner_binary

    @property
    def _inner_binary(self) -> str:
        return f"/python/{self.binary.relative_to(self.base_prefix)}"

    @property
    def site_packages(self) -> str:
        """Where the venv's (or else the base's) packages are, inside."""
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        root = "/venv" if self.has_venv else "/python"
        return f"{root}/{sys.platlibdir}/{version}/site-packages"

    def pyvenv_cfg(self) -> bytes:
        lines = ["home = /python/bin", "include-system-site-packages = false"]
        lines.append(f"version = {platform.python_version()}")
        return ("\n".join(lines) + "\n").encode()

    def mounts(self, pyvenv_fd: int) -> list[str]:
        args = ["--ro-bind", str(self.base_prefix), "/python"]
        if self.has_venv:
            for lib in sorted({"lib", sys.platlibdir}):
                args += ["--ro-bind-try", str(self.prefix / lib), f"/venv/{lib}"]
            args += ["--ro-bind-data", str(pyvenv_fd), "/venv/pyvenv.cfg"]
            args += ["--symlink", self._inner_binary, "/venv/bin/python"]
        return args
