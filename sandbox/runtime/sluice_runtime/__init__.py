"""The Sluice runtime: what runs inside the sandbox, as `python -m sluice_runtime SPEC`.

It imports only the standard library and the image's packages (duckdb, pyarrow,
pandas, nbclient, nbformat), never Sluice's own: the sandbox mounts this folder
alone, and nothing of the host's code. Notebooks import `table` and `dataset`.

Exit codes tell the host what went wrong without parsing prose:
0 done, 1 a probe raised, 2 bad spec, 3 query failed, 4 job kind not supported,
5 probes disabled, 6 writing /out failed, 7 a notebook cell failed.
"""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_BAD_SPEC = 2
EXIT_QUERY_FAILED = 3
EXIT_UNSUPPORTED = 4
EXIT_PROBES_DISABLED = 5
EXIT_OUTPUT_FAILED = 6
EXIT_NOTEBOOK_FAILED = 7


class JobFailed(Exception):
    """A failure the runtime reports as one stderr line and an exit code."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message


def table(frame: Any, by: Any, **options: Any) -> Any:
    """Write a gate-ready aggregate table to /out (see `sluice_runtime.tables.table`)."""
    from .tables import table as make_table  # pandas loads only for notebooks that use it

    return make_table(frame, by, **options)


def dataset(name: str) -> Any:
    """A licensed dataset, as this job may see it, as a pandas DataFrame."""
    from .tables import dataset as read_dataset

    return read_dataset(name)


__all__ = [
    "EXIT_BAD_SPEC",
    "EXIT_NOTEBOOK_FAILED",
    "EXIT_OK",
    "EXIT_OUTPUT_FAILED",
    "EXIT_PROBES_DISABLED",
    "EXIT_QUERY_FAILED",
    "EXIT_UNSUPPORTED",
    "JobFailed",
    "dataset",
    "table",
]
