"""Local mode: query(), schema() and fit() over a synthetic twin on an operator's machine.

The twin's folder holds `<dataset>.parquet` and `<dataset>.dictionary.json` per
dataset (several twins may share one folder). Queries run in DuckDB with one view
per dataset, locked to those files as in the sandbox; fit() trains the same
diffprivlib models the broker does, with bounds from the data dictionary, so a
notebook's code paths and results' shapes match. Nothing here is private: a twin
holds no real record, so no ε is spent and nothing is gated.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from . import JobFailed
from .sql import connect, only_select

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
DICTIONARY_SUFFIX = ".dictionary.json"
CLASSIFIERS = ("logistic_regression", "gaussian_nb")
MODELS = ("logistic_regression", "linear_regression", "gaussian_nb", "kmeans")


def folder() -> Path:
    """The twin's folder, from SLUICE_TWIN (which `use_twin` sets)."""
    where = Path(os.environ.get("SLUICE_TWIN", "")).expanduser()
    if not where.is_dir():
        raise FileNotFoundError(f"SLUICE_TWIN={where} is not a folder; unzip a twin there first")
    return where


@functools.cache
def _connection(where: Path) -> duckdb.DuckDBPyConnection:
    datasets = {p.stem: str(p.resolve()) for p in sorted(where.glob("*.parquet"))}
    bad = [name for name in datasets if not _NAME.fullmatch(name)]
    if not datasets or bad:
        raise FileNotFoundError(
            f"{where} holds no twin (<dataset>.parquet files)"
            if not datasets
            else f"{where} has files whose names are not dataset names: {bad}"
        )
    threads = max(1, min(64, os.cpu_count() or 2))
    return connect(datasets, threads=threads)


def query(sql: str) -> pd.DataFrame:
    """Run one SELECT over the twin's views; the whole result as a DataFrame."""
    con = _connection(folder()).cursor()
    try:
        only_select(sql, con)
        return con.execute(sql).fetch_df()
    except JobFailed as failed:
        raise ValueError(failed.message) from None
    except duckdb.Error as exc:
        raise ValueError(f"query failed: {exc}") from None


def schema() -> dict[str, Any]:
    """Every dataset's data dictionary in the twin's folder, merged."""
    merged: dict[str, Any] = {}
    for path in sorted(folder().glob(f"*{DICTIONARY_SUFFIX}")):
        merged.update(json.loads(path.read_text("utf-8")))
    return merged


def dataset(name: str) -> pd.DataFrame:
    """The twin's rows as a notebook's /data would hold them: L1 columns only (the rest
    comes through query() and fit())."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a dataset name")
    described = schema().get(name)
    path = folder() / f"{name}.parquet"
    if described is None or not path.exists():
        raise FileNotFoundError(f"dataset {name!r} is not in the twin; it has {sorted(schema())}")
    public = [c for c, facts in described["columns"].items() if facts["level"] == "L1"]
    return pd.read_parquet(path, columns=public)


class FittedModel:
    """A model trained by `fit`: predicts from a frame holding (at least) its features."""

    def __init__(
        self, model: str, estimator: Any, features: list[str], label: str | None, **facts: Any
    ) -> None:
        self.model = model
        self.estimator = estimator
        self.features = list(features)
        self.label = label
        self.epsilon: float = facts["epsilon"]
        self.bounds: dict[str, list[float]] = facts["bounds"]
        self.rows: int = facts["rows"]

    def _matrix(self, frame: pd.DataFrame) -> Any:
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise KeyError(f"the frame lacks the model's features {missing}")
        return frame[self.features].astype("float64").to_numpy()

    def predict(self, frame: pd.DataFrame) -> Any:
        return self.estimator.predict(self._matrix(frame))

    def __repr__(self) -> str:
        return f"<{self.model} on {self.features}, ε={self.epsilon}, {self.rows} rows>"


class FittedClassifier(FittedModel):
    def predict_proba(self, frame: pd.DataFrame) -> Any:
        return self.estimator.predict_proba(self._matrix(frame))

    @property
    def classes_(self) -> Any:
        return self.estimator.classes_


def fit(
    model: str,
    sql: str,
    features: list[str],
    label: str | None = None,
    epsilon: float = 1.0,
    **params: Any,
) -> FittedModel:
    """Train `model` with diffprivlib on the rows `sql` selects from the twin."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
    if not features or (label is None) != (model == "kmeans"):
        needs = "no label" if model == "kmeans" else "a label"
        raise ValueError(f"{model} needs one or more features and {needs}")
    if not epsilon > 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    given = params.pop("bounds", None) or {}
    columns = [*features, *([label] if label else [])]
    bounds = {c: _bounds(c, given) for c in columns if c != label or model == "linear_regression"}
    frame = query(sql)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"the query's result lacks {missing}; select them by these names")
    frame = frame.dropna(subset=columns)
    x = frame[features].astype("float64").to_numpy()
    estimator = _estimator(model, features, label, bounds, epsilon, params)
    if label is None:
        estimator.fit(x)
    else:
        estimator.fit(x, frame[label].to_numpy())
    kind = FittedClassifier if model in CLASSIFIERS else FittedModel
    return kind(model, estimator, features, label, epsilon=epsilon, bounds=bounds, rows=len(frame))


def _bounds(column: str, given: dict[str, Any]) -> list[float]:
    """A column's bounds: given explicitly, else from the data dictionary (a measure's)."""
    if column in given:
        lo, hi = given[column]
        return [float(lo), float(hi)]
    for dataset in schema().values():
        declared = dataset["columns"].get(column, {}).get("bounds")
        if declared:
            return [float(declared[0]), float(declared[1])]
    raise ValueError(
        f"{column!r} has no bounds in the data dictionary; select a measure column under "
        "its own name, or pass bounds={column: (lo, hi)}"
    )


def _estimator(
    model: str,
    features: list[str],
    label: str | None,
    bounds: dict[str, list[float]],
    epsilon: float,
    params: dict[str, Any],
) -> Any:
    from diffprivlib import models  # only fit() needs diffprivlib (the `local` extra)

    lower = [bounds[f][0] for f in features]
    upper = [bounds[f][1] for f in features]
    if model == "logistic_regression":
        sizes = [max(abs(lo), abs(hi)) for lo, hi in zip(lower, upper, strict=True)]
        norm = math.sqrt(sum(size**2 for size in sizes))  # the largest a row's L2 norm can be
        return models.LogisticRegression(epsilon=epsilon, data_norm=norm, **params)
    if model == "linear_regression":
        assert label is not None
        return models.LinearRegression(
            epsilon=epsilon, bounds_X=(lower, upper), bounds_y=tuple(bounds[label]), **params
        )
    if model == "gaussian_nb":
        return models.GaussianNB(epsilon=epsilon, bounds=(lower, upper), **params)
    return models.KMeans(epsilon=epsilon, bounds=(lower, upper), **params)
