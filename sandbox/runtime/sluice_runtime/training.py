"""Train one differentially private model (diffprivlib) and write /out/model.json.

A `fit` job is what a notebook's `fit()` becomes on the broker side: the host has
checked the request and built the training SQL (one row per privacy unit, the
features and label only); this runs it over /data, clips every value to the
schema's bounds, trains with the ε the licence was charged, and writes the model's
parameters as plain JSON (gate.model_artifact.DpModel's fields) and nothing else.
A tenth of ε pays for the noisy training-row count the reviewers see.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from . import EXIT_BAD_SPEC, EXIT_OUTPUT_FAILED, JobFailed
from .jobspec import JobSpec
from .sql import connect, only_select

COUNT_SHARE = 0.1  # of ε, for the released training-row count


def run(spec: JobSpec, out_dir: Path) -> dict[str, Any]:
    model = spec.model or {}
    kind, features, label = model.get("kind"), list(model.get("features", [])), model.get("label")
    bounds = {k: [float(v[0]), float(v[1])] for k, v in model.get("bounds", {}).items()}
    epsilon = float(model.get("epsilon", 0))
    if not features or epsilon <= 0 or any(f not in bounds for f in features):
        raise JobFailed(EXIT_BAD_SPEC, "bad job spec: a fit needs bounded features and ε > 0")
    con = connect(spec.datasets or {}, threads=spec.threads, memory_limit=spec.memory_limit)
    only_select(spec.sql, con)  # parsed by the job's connection: no second database
    frame = duckdb.DuckDBPyConnection.sql(con, spec.sql).df()  # the relation layer
    frame = frame.dropna()
    x = np.column_stack([_clipped(frame[f], bounds[f]) for f in features])
    y = frame[label].to_numpy() if label else None
    if label and label in bounds:
        y = _clipped(frame[label], bounds[label])
    train_epsilon = epsilon * (1 - COUNT_SHARE)
    parameters, extra = train(str(kind), x, y, features, bounds, train_epsilon, model)
    record = {
        "kind": kind,
        "features": features,
        "bounds": {f: bounds[f] for f in [*features, *([label] if label in bounds else [])]},
        "epsilon": epsilon,
        "training_rows": noisy_count(len(frame), epsilon * COUNT_SHARE),
        "parameters": parameters,
        "label": label,
        "mechanism": "diffprivlib",
        "extra": extra,
    }
    try:
        (out_dir / "model.json").write_text(json.dumps(record, ensure_ascii=False), "utf-8")
    except OSError as exc:
        raise JobFailed(EXIT_OUTPUT_FAILED, f"writing output failed: {exc}") from exc
    return record


def _clipped(column: Any, bounds: list[float]) -> np.ndarray:
    values = np.asarray(column, dtype=float)
    return np.minimum(np.maximum(values, bounds[0]), bounds[1])


def noisy_count(rows: int, epsilon: float) -> int:
    from diffprivlib.mechanisms import GeometricTruncated

    mechanism = GeometricTruncated(epsilon=epsilon, sensitivity=1, lower=0, upper=10**9)
    return int(mechanism.randomise(rows))


def train(
    kind: str,
    x: np.ndarray,
    y: Any,
    features: list[str],
    bounds: dict[str, list[float]],
    epsilon: float,
    model: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fitted parameters of `kind` on (x, y), in the features' own units."""
    import warnings

    from diffprivlib import models

    warnings.filterwarnings("ignore", category=UserWarning)  # diffprivlib's advice, not data
    lower = np.array([bounds[f][0] for f in features])
    upper = np.array([bounds[f][1] for f in features])
    params = dict(model.get("params") or {})
    if kind == "logistic_regression":
        span = np.where(upper > lower, upper - lower, 1.0)
        scaled = (x - lower) / span  # in [0, 1]: the data norm is known, not read
        fitted = models.LogisticRegression(
            epsilon=epsilon, data_norm=float(np.sqrt(len(features))),
            C=float(params.get("C", 1.0)), max_iter=int(params.get("max_iter", 100)),
        )  # fmt: skip
        fitted.fit(scaled, y)
        coef = np.atleast_2d(fitted.coef_) / span
        intercept = np.asarray(fitted.intercept_, float) - (coef * lower).sum(axis=1)
        classes = [_plain(c) for c in fitted.classes_]
        return {"coef": coef.tolist(), "intercept": intercept.tolist(), "classes": classes}, {}
    if kind == "linear_regression":
        label_bounds = model["bounds"][model["label"]]
        fitted = models.LinearRegression(
            epsilon=epsilon, bounds_X=(lower, upper), bounds_y=tuple(label_bounds)
        )
        fitted.fit(x, y)
        coef = np.asarray(fitted.coef_, float).ravel()
        return {"coef": coef.tolist(), "intercept": float(np.ravel(fitted.intercept_)[0])}, {}
    if kind == "gaussian_nb":
        fitted = models.GaussianNB(epsilon=epsilon, bounds=(lower, upper))
        fitted.fit(x, y)
        return {
            "theta": fitted.theta_.tolist(),
            "var": fitted.var_.tolist(),
            "class_prior": fitted.class_prior_.tolist(),
            "classes": [_plain(c) for c in fitted.classes_],
        }, {}
    if kind == "kmeans":
        clusters = int(params.get("n_clusters", 3))
        fitted = models.KMeans(n_clusters=clusters, epsilon=epsilon, bounds=(lower, upper))
        fitted.fit(x)
        return {"cluster_centers": fitted.cluster_centers_.tolist()}, {"n_clusters": clusters}
    raise JobFailed(EXIT_BAD_SPEC, f"bad job spec: unknown model kind {kind!r}")


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
