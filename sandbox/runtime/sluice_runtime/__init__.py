"""The Sluice runtime: what runs inside the sandbox, as `python -m sluice_runtime SPEC`.

It imports only the standard library and the image's packages (duckdb, pyarrow,
pandas, nbclient, nbformat), never Sluice's own: the sandbox mounts this folder
alone, and nothing of the host's code. Notebooks import `dataset` (the job's L1
view), `query`, `schema` and `fit`; in the sandbox these three go to the broker
(`sluice_runtime.broker`, chosen when SLUICE_BROKER names its socket).

`query`, `schema` and `fit` work in one of two modes: through the broker in the
sandbox (env SLUICE_BROKER, set by the host), or locally over a synthetic twin
(env SLUICE_TWIN or `use_twin(path)`, on an operator's machine). The broker wins
when both are set, so a notebook that calls `use_twin` runs unchanged in the sandbox.

Exit codes tell the host what went wrong without parsing prose:
0 done, 1 a probe raised, 2 bad spec, 3 query failed, 4 job kind not supported,
5 probes disabled, 6 writing /out failed, 7 a notebook cell failed.
"""

from __future__ import annotations

import os
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


class ModeNotChosen(RuntimeError):
    """query(), schema() and fit() were called with neither a broker nor a twin."""


def use_twin(path: Any) -> None:
    """Run query(), schema() and fit() over the synthetic twin unzipped in `path`."""
    os.environ["SLUICE_TWIN"] = os.fspath(path)


def _mode() -> Any:
    if os.environ.get("SLUICE_BROKER"):
        import importlib

        return importlib.import_module(".broker", __name__)  # talks to the host's broker
    if os.environ.get("SLUICE_TWIN"):
        from . import local

        return local
    raise ModeNotChosen(
        "sluice_runtime has no data source: in a Sluice sandbox the broker is set for "
        "you; on your own machine download a synthetic twin, unzip it, and set "
        "SLUICE_TWIN=/path/to/folder or call sluice_runtime.use_twin('/path/to/folder')"
    )


def query(sql: str) -> Any:
    """Run one SELECT; a pandas DataFrame (in the sandbox: the released table only)."""
    return _mode().query(sql)  # in the sandbox: a gated SQL job of its own


def schema() -> dict[str, Any]:
    """The data dictionary: dataset -> {"title", "columns": {name: {level, role, type,
    bounds, categories, description}}}."""
    dictionary: dict[str, Any] = _mode().schema()
    return dictionary


def fit(
    model: str,
    sql: str,
    features: list[str],
    label: str | None = None,
    epsilon: float = 1.0,
    **params: Any,
) -> Any:
    """Train a differentially private model ("logistic_regression", "linear_regression",
    "gaussian_nb" or "kmeans") on the rows `sql` selects; the fitted model has
    `predict(frame)`, and classifiers `predict_proba(frame)`."""
    return _mode().fit(model, sql, features, label, epsilon, **params)


def dataset(name: str) -> Any:
    """A licensed dataset, as this job may see it, as a pandas DataFrame (over a twin:
    its L1 columns, as a notebook's /data holds them)."""
    if os.environ.get("SLUICE_TWIN") and not os.environ.get("SLUICE_BROKER"):
        from . import local

        return local.dataset(name)
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
    "ModeNotChosen",
    "dataset",
    "fit",
    "query",
    "schema",
    "use_twin",
]
