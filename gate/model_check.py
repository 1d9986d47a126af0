"""The gate's check of a DP model output: the record is what was charged, on enough rows.

A model leaves as `model.json` (gate.model_artifact.DpModel). The check is pure: the
record must parse, be of the kind, features, label, bounds and ε the broker charged
for (so a training run cannot swap in another model or spend more than it paid), and
rest on at least the threshold's number of training rows (its count is noisy, paid
for with part of the model's ε).
"""

from __future__ import annotations

from typing import Any

from core.errors import InvalidInput
from gate.findings import Finding, make_finding
from gate.model_artifact import DpModel
from gate.registry import Rule, register

__all__ = ["check_model"]

for _entry in (
    Rule(
        "model_mismatch",
        "is not the model that was requested and charged ({problem})",
        "Train the model again through fit(); a model record cannot be edited.",
    ),
    Rule(
        "model_rows",
        "was trained on about {rows} rows, fewer than {threshold}",
        "Train on a broader population: a model over few rows can reveal them.",
    ),
):
    register(_entry)


def check_model(
    text: str, expected: dict[str, Any], threshold: int
) -> tuple[DpModel | None, list[Finding]]:
    """The model record and the findings that block it (none: it may go to review)."""
    try:
        model = DpModel.from_json(text)
    except InvalidInput as exc:
        return None, [make_finding("model_mismatch", None, None, {"problem": exc.message})]
    wanted = {
        "kind": expected.get("kind"),
        "features": list(expected.get("features", [])),
        "label": expected.get("label"),
        "bounds": {k: [float(v) for v in b] for k, b in expected.get("bounds", {}).items()},
        "epsilon": float(expected.get("epsilon", 0.0)),
    }
    found = {
        "kind": model.kind,
        "features": list(model.features),
        "label": model.label,
        "bounds": {k: [float(v) for v in b] for k, b in model.bounds.items()},
        "epsilon": float(model.epsilon),
    }
    differ = [name for name in wanted if wanted[name] != found[name]]
    if differ:
        problem = f"{', '.join(differ)} differ"
        return model, [make_finding("model_mismatch", None, None, {"problem": problem})]
    if model.training_rows < threshold:
        figures = {"rows": model.training_rows, "threshold": threshold}
        return model, [make_finding("model_rows", None, None, figures)]
    return model, []
