"""Sandboxes: where operators' jobs run, isolated, over desensitized data only.

A backend (bubblewrap now, docker later) implements `Runner`; callers build a
`SandboxRun`, pass it to `execute`, and get a `SandboxResult` whose outputs are
the only files that may go on to the output gate.
"""

from sandbox.bubblewrap import BubblewrapRunner
from sandbox.limits import Limits
from sandbox.runner import (
    Handle,
    Runner,
    SandboxResult,
    SandboxRun,
    available_backends,
    execute,
    get_runner,
)

__all__ = [
    "BubblewrapRunner",
    "Handle",
    "Limits",
    "Runner",
    "SandboxResult",
    "SandboxRun",
    "available_backends",
    "execute",
    "get_runner",
]
