"""The Sluice runtime: what runs inside the sandbox, as `python -m sluice_runtime SPEC`.

It imports only the standard library and the image's packages (duckdb, pyarrow,
pandas, nbclient, nbformat), never Sluice's own: the sandbox mounts this folder
alone, and nothing of the host's code. Notebooks import `dataset` (the job's L1
view), `query`, `schema` and `fit`; in the sandbox these three go to the broker
(`sluice_runtime.broker`, chosen when SLUICE_BROKER names its socket).

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


def _backend() -> Any:
    """Where query(), schema() and fit() go: the broker in the sandbox, else a local
    synthetic twin (`sluice_runtime.local`)."""
    import os

    if os.environ.get("SLUICE_BROKER"):
        from . import broker

        return broker
    from . import local  # type: ignore[attr-defined]

    return local


def query(sql: str) -> Any:
    """The released table of `sql` as a pandas DataFrame (a gated SQL job of its own)."""
    return _backend().query(sql)


def schema() -> dict[str, Any]:
    """dataset → {"title", "columns": {column: {level, role, type, bounds, categories,
    description}}}: the data dictionary, no data."""
    return dict(_backend().schema())


def fit(
    model: str,
    sql: str,
    features: list[str],
    label: str | None = None,
    epsilon: float = 1.0,
    **params: Any,
) -> Any:
    """A differentially private model ("logistic_regression", "linear_regression",
    "gaussian_nb", "kmeans") trained over the rows of `sql`, with `predict(frame)`."""
    return _backend().fit(model, sql, features, label, epsilon, **params)


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
    "fit",
    "query",
    "schema",
]
