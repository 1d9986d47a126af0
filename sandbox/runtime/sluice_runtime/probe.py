"""Probes: Python run inside the sandbox so tests can check its walls from within.

Only a runner built with allow_probes sets SLUICE_ALLOW_PROBES=1; without it a
probe spec is refused, so production sandboxes run SQL and nothing else.
"""

from __future__ import annotations

import os

from . import EXIT_PROBES_DISABLED, JobFailed


def run(code: str) -> None:
    if os.environ.get("SLUICE_ALLOW_PROBES") != "1":
        raise JobFailed(EXIT_PROBES_DISABLED, "probe jobs are disabled in this sandbox")
    exec(compile(code, "<probe>", "exec"), {"__name__": "__probe__"})
