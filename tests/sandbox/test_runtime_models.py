"""The notebook's fitted model predicts exactly as the released record does."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gate.model_artifact import DpModel
from sandbox.runtime.sluice_runtime.models import FittedModel

RNG = np.random.default_rng(5)
BOUNDS = {"a": [0.0, 10.0], "b": [-5.0, 5.0]}
PARAMETERS = {
    "logistic_regression": {"coef": [[0.4, -0.7]], "intercept": [0.2], "classes": [0, 1]},
    "linear_regression": {"coef": [1.5, -2.0], "intercept": 3.0},
    "gaussian_nb": {
        "theta": [[2.0, 1.0], [7.0, -1.0]],
        "var": [[1.0, 2.0], [3.0, 1.5]],
        "class_prior": [0.3, 0.7],
        "classes": ["x", "y"],
    },
    "kmeans": {"cluster_centers": [[1.0, 1.0], [8.0, -3.0], [5.0, 4.0]]},
}


@pytest.mark.parametrize("kind", sorted(PARAMETERS))
def test_runtime_and_record_agree(kind: str) -> None:
    record = DpModel(kind, ["a", "b"], BOUNDS, 1.0, 500, PARAMETERS[kind], label="y")
    fitted = FittedModel(json.loads(record.to_json()))
    frame = pd.DataFrame({"a": RNG.uniform(-3, 13, 200), "b": RNG.uniform(-8, 8, 200)})
    rows = frame.to_dict("records")  # some outside the bounds: both clip alike
    predicted, released = list(fitted.predict(frame)), record.predict(rows)
    if kind == "linear_regression":
        np.testing.assert_allclose(predicted, released, rtol=1e-12)
    else:
        assert predicted == released
    if kind in ("logistic_regression", "gaussian_nb"):
        np.testing.assert_allclose(fitted.predict_proba(frame), record.scores(rows), rtol=1e-12)
    else:
        with pytest.raises(TypeError):
            fitted.predict_proba(frame)
