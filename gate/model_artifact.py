"""A differentially private model as an output: plain parameters, never a pickle.

A model trained on the broker side leaves the private side only as this record: its
kind, the feature names and bounds it was trained with, the ε it cost, how many rows
it saw, and its fitted parameters as lists of numbers. The gate reviews it like a
table, a release package carries it as JSON, and an interface product scores with it
through `predict` here, so no operator-supplied code or object is ever loaded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.errors import InvalidInput

__all__ = ["MODEL_KINDS", "DpModel"]

# kind → the parameters its fitted record must carry.
MODEL_KINDS: dict[str, tuple[str, ...]] = {
    "logistic_regression": ("coef", "intercept", "classes"),
    "linear_regression": ("coef", "intercept"),
    "gaussian_nb": ("theta", "var", "class_prior", "classes"),
    "kmeans": ("cluster_centers",),
}


@dataclass(frozen=True)
class DpModel:
    """One DP-trained model's parameters and the facts a reviewer needs about it."""

    kind: str
    features: list[str]
    bounds: dict[str, list[float]]  # feature → [lower, upper] from the schema
    epsilon: float
    training_rows: int  # as the training saw it (noisy if the mechanism made it so)
    parameters: dict[str, Any]
    label: str | None = None
    mechanism: str = "diffprivlib"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise InvalidInput.coded("gate_model_kind", kind=self.kind, kinds=sorted(MODEL_KINDS))
        missing = [name for name in MODEL_KINDS[self.kind] if name not in self.parameters]
        if missing:
            raise InvalidInput.coded("gate_model_parameters", kind=self.kind, missing=missing)
        if not self.features:
            raise InvalidInput.coded("gate_model_no_features")
        unbounded = [name for name in self.features if name not in self.bounds]
        if unbounded:
            raise InvalidInput.coded("gate_model_unbounded", features=unbounded)
        if not (self.epsilon > 0):
            raise InvalidInput.coded("gate_model_no_epsilon")

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> DpModel:
        try:
            fields = json.loads(text)
            return cls(**fields)
        except (TypeError, ValueError) as error:
            raise InvalidInput.coded("gate_model_record", detail=str(error)) from error

    def _matrix(self, rows: list[dict[str, float]]) -> np.ndarray:
        """Feature rows clipped to the training bounds, in the training order."""
        try:
            matrix = np.array([[float(row[name]) for name in self.features] for row in rows])
        except KeyError as error:
            raise InvalidInput.coded("gate_model_feature_missing", name=error.args[0]) from error
        lower = np.array([self.bounds[name][0] for name in self.features])
        upper = np.array([self.bounds[name][1] for name in self.features])
        return np.clip(matrix.reshape(len(rows), len(self.features)), lower, upper)

    def predict(self, rows: list[dict[str, float]]) -> list[Any]:
        """The model's output for each row: a class, a value or a cluster number."""
        x = self._matrix(rows)
        p = self.parameters
        if self.kind == "linear_regression":
            return (x @ np.asarray(p["coef"], float).ravel() + float(p["intercept"])).tolist()
        if self.kind == "kmeans":
            centers = np.asarray(p["cluster_centers"], float)
            distances = ((x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
            return distances.argmin(axis=1).tolist()
        classes = list(p["classes"])
        scores = self.scores(rows)
        return [classes[int(i)] for i in np.asarray(scores).argmax(axis=1)]

    def scores(self, rows: list[dict[str, float]]) -> list[list[float]]:
        """Class probabilities (logistic regression, naive Bayes), one list per row."""
        x = self._matrix(rows)
        p = self.parameters
        if self.kind == "logistic_regression":
            coef = np.atleast_2d(np.asarray(p["coef"], float))
            logits = x @ coef.T + np.asarray(p["intercept"], float)
            if coef.shape[0] == 1:  # binary: one logit for the second class
                positive = 1.0 / (1.0 + np.exp(-logits[:, 0]))
                return np.column_stack([1.0 - positive, positive]).tolist()
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            return (shifted / shifted.sum(axis=1, keepdims=True)).tolist()
        if self.kind == "gaussian_nb":
            theta, var = np.asarray(p["theta"], float), np.asarray(p["var"], float)
            log_prior = np.log(np.asarray(p["class_prior"], float))
            log_likelihood = -0.5 * (
                np.log(2 * np.pi * var).sum(axis=1)[None, :]
                + (((x[:, None, :] - theta[None, :, :]) ** 2) / var[None, :, :]).sum(axis=2)
            )
            joint = log_likelihood + log_prior[None, :]
            shifted = np.exp(joint - joint.max(axis=1, keepdims=True))
            return (shifted / shifted.sum(axis=1, keepdims=True)).tolist()
        raise InvalidInput.coded("gate_model_no_scores", kind=self.kind)
