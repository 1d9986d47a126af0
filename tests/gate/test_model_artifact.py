"""A model record round-trips as JSON and predicts like the diffprivlib model it came from."""

from __future__ import annotations

import numpy as np
import pytest
from diffprivlib.models import GaussianNB, LinearRegression, LogisticRegression

from core.errors import InvalidInput
from gate.model_artifact import DpModel

BOUNDS = {"a": [0.0, 1.0], "b": [0.0, 1.0]}


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(2000, 2))
    return x, (x[:, 0] + x[:, 1] > 1).astype(int)


def _rows(x: np.ndarray) -> list[dict[str, float]]:
    return [{"a": float(r[0]), "b": float(r[1])} for r in x]


def test_logistic_regression_record_predicts_as_the_fitted_model() -> None:
    x, y = _data()
    fitted = LogisticRegression(epsilon=5.0, data_norm=1.5, random_state=1).fit(x, y)
    record = DpModel(
        kind="logistic_regression",
        features=["a", "b"],
        bounds=BOUNDS,
        epsilon=5.0,
        training_rows=len(x),
        label="y",
        parameters={
            "coef": fitted.coef_.tolist(),
            "intercept": fitted.intercept_.tolist(),
            "classes": fitted.classes_.tolist(),
        },
    )
    again = DpModel.from_json(record.to_json())
    assert again.predict(_rows(x[:200])) == fitted.predict(x[:200]).tolist()
    assert np.allclose(again.scores(_rows(x[:50])), fitted.predict_proba(x[:50]))


def test_naive_bayes_and_linear_records_predict_as_the_fitted_models() -> None:
    x, y = _data(2)
    nb = GaussianNB(epsilon=5.0, bounds=([0, 0], [1, 1]), random_state=1).fit(x, y)
    record = DpModel(
        kind="gaussian_nb",
        features=["a", "b"],
        bounds=BOUNDS,
        epsilon=5.0,
        training_rows=len(x),
        parameters={
            "theta": nb.theta_.tolist(),
            "var": nb.var_.tolist(),
            "class_prior": nb.class_prior_.tolist(),
            "classes": nb.classes_.tolist(),
        },
    )
    assert record.predict(_rows(x[:300])) == nb.predict(x[:300]).tolist()
    lr = LinearRegression(
        epsilon=5.0, bounds_X=([0, 0], [1, 1]), bounds_y=(0, 1), random_state=1
    ).fit(x, y)
    linear = DpModel(
        kind="linear_regression",
        features=["a", "b"],
        bounds=BOUNDS,
        epsilon=5.0,
        training_rows=len(x),
        parameters={"coef": lr.coef_.tolist(), "intercept": float(lr.intercept_)},
    )
    assert np.allclose(linear.predict(_rows(x[:100])), lr.predict(x[:100]))


def test_bad_records_are_refused_with_the_reason() -> None:
    with pytest.raises(InvalidInput, match="unknown model kind"):
        DpModel("svm", ["a"], {"a": [0, 1]}, 1.0, 10, {})
    with pytest.raises(InvalidInput, match="needs parameters"):
        DpModel("kmeans", ["a"], {"a": [0, 1]}, 1.0, 10, {})
    with pytest.raises(InvalidInput, match="without bounds"):
        DpModel("kmeans", ["a", "b"], {"a": [0, 1]}, 1.0, 10, {"cluster_centers": [[0, 0]]})
    with pytest.raises(InvalidInput, match="not a Sluice model record"):
        DpModel.from_json('{"kind": "kmeans"}')
