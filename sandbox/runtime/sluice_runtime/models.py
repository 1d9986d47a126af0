"""A fitted DP model in the notebook: predictions from its released parameters.

The broker returns the model as the same JSON record the gate reviews and a release
carries (gate.model_artifact.DpModel on the host); the runtime imports no Sluice
code, so the arithmetic is restated here, and tests check both agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class FittedModel:
    """`predict(frame)` and, for classifiers, `predict_proba(frame)`; `record` is the
    model as released (kind, features, bounds, ε, training rows, parameters)."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.kind = str(record["kind"])
        self.features = list(record["features"])
        self.parameters = dict(record["parameters"])
        self.epsilon = float(record["epsilon"])
        self.classes_ = list(self.parameters.get("classes", []))

    def __repr__(self) -> str:
        return f"FittedModel({self.kind}, ε={self.epsilon}, features={self.features})"

    def _matrix(self, frame: Any) -> np.ndarray:
        x = np.asarray(frame[self.features], dtype=float).reshape(-1, len(self.features))
        bounds = self.record["bounds"]
        lower = np.array([bounds[f][0] for f in self.features], dtype=float)
        upper = np.array([bounds[f][1] for f in self.features], dtype=float)
        return np.clip(x, lower, upper)

    def predict(self, frame: Any) -> np.ndarray:
        x, p = self._matrix(frame), self.parameters
        if self.kind == "linear_regression":
            return x @ np.asarray(p["coef"], float).ravel() + float(p["intercept"])
        if self.kind == "kmeans":
            centers = np.asarray(p["cluster_centers"], float)
            return ((x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
        return np.asarray(self.classes_, dtype=object)[self.predict_proba(frame).argmax(axis=1)]

    def predict_proba(self, frame: Any) -> np.ndarray:
        x, p = self._matrix(frame), self.parameters
        if self.kind == "logistic_regression":
            coef = np.atleast_2d(np.asarray(p["coef"], float))
            logits = x @ coef.T + np.asarray(p["intercept"], float)
            if coef.shape[0] == 1:
                positive = 1.0 / (1.0 + np.exp(-logits[:, 0]))
                return np.column_stack([1.0 - positive, positive])
            return _softmax(logits)
        if self.kind == "gaussian_nb":
            theta, var = np.asarray(p["theta"], float), np.asarray(p["var"], float)
            joint = np.log(np.asarray(p["class_prior"], float))[None, :] - 0.5 * (
                np.log(2 * np.pi * var).sum(axis=1)[None, :]
                + (((x[:, None, :] - theta[None, :, :]) ** 2) / var[None, :, :]).sum(axis=2)
            )
            return _softmax(joint)
        raise TypeError(f"a {self.kind} model gives no class probabilities")


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
