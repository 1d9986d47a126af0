"""The Sluice runtime: what runs inside the sandbox, as `python -m sluice_runtime SPEC`.

It imports only the standard library, duckdb and pyarrow, never Sluice's own
packages: the sandbox mounts this folder alone, and nothing of the host's code.

Exit codes tell the host what went wrong without parsing prose:
0 done, 1 a probe raised, 2 bad spec, 3 query failed, 4 job kind not supported,
5 probes disabled, 6 writing /out failed.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_BAD_SPEC = 2
EXIT_QUERY_FAILED = 3
EXIT_UNSUPPORTED = 4
EXIT_PROBES_DISABLED = 5
EXIT_OUTPUT_FAILED = 6


class JobFailed(Exception):
    """A failure the runtime reports as one stderr line and an exit code."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message


__all__ = [
    "EXIT_BAD_SPEC",
    "EXIT_OK",
    "EXIT_OUTPUT_FAILED",
    "EXIT_PROBES_DISABLED",
    "EXIT_QUERY_FAILED",
    "EXIT_UNSUPPORTED",
    "JobFailed",
]
