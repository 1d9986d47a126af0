"""Sandboxes: where operators' jobs run, isolated, over desensitized data only.

A backend (docker, or bubblewrap where no engine runs) implements `Runner`;
callers build a `SandboxRun`, pass it to `execute`, and get a `SandboxResult`
whose outputs are the only files that may go on to the output gate.
"""

from typing import TYPE_CHECKING

from core.lazy import lazy_exports

if TYPE_CHECKING:
    from sandbox.bubblewrap import BubblewrapRunner
    from sandbox.docker_backend import DockerRunner
    from sandbox.limits import Limits
    from sandbox.runner import (
        Handle,
        Runner,
        SandboxResult,
        SandboxRun,
        available_backends,
        execute,
        get_runner,
        resolve_backend,
    )

__getattr__ = lazy_exports(__name__, __file__)

__all__ = [
    "BubblewrapRunner",
    "DockerRunner",
    "Handle",
    "Limits",
    "Runner",
    "SandboxResult",
    "SandboxRun",
    "available_backends",
    "execute",
    "get_runner",
    "resolve_backend",
]
