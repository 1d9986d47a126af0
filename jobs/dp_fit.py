"""A notebook's `fit()`: a DP model trained broker-side as a child job of kind `model`.

The request is checked by `policies.training` (one dataset, bounded features, a
label with known classes, nothing above the licence's level); the child job is
recorded with its ε charged to the licence's ledger and its audit entries in one
transaction, then run by `jobs.runner` like any job: a sandbox of its own trains
the model (sluice_runtime.fit), the gate checks the record (gate.model_check), and
it waits for review like a table (two reviewers if any input is above L2). The
notebook gets the model's parameters only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from audit_log import AuditAction, append
from catalog import list_datasets
from core.errors import InvalidInput, SluiceError
from core.levels import Level
from gate.candidates import MODEL_FILE
from gate.model_artifact import MODEL_KINDS
from gate.step import candidate_dir
from jobs.broker import Reply
from jobs.ledger import charge
from jobs.records import JobStatus
from jobs.submit import _license_for, _new_job
from operators.accounts import Principal
from policies.engine import Decision
from policies.training import TrainingPlan, plan_training

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jobs.broker_service import BrokerService

__all__ = ["fit_request", "submit_model"]

MAX_EPSILON = 10.0  # one fit() may not spend more than this, whatever the budget holds


def _checked(request: dict[str, Any]) -> tuple[str, str, list[str], str | None, float]:
    model, sql = request.get("model"), request.get("sql")
    features, label = request.get("features"), request.get("label")
    epsilon = request.get("epsilon", 1.0)
    if model not in MODEL_KINDS:
        raise InvalidInput.coded("job_model_unknown", model=model, models=sorted(MODEL_KINDS))
    if not isinstance(sql, str) or not sql.strip():
        raise InvalidInput.coded("job_fit_sql_missing")
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise InvalidInput.coded("job_features_form")
    if label is not None and not isinstance(label, str):
        raise InvalidInput.coded("job_label_form")
    if not isinstance(epsilon, int | float) or not 0 < float(epsilon) <= MAX_EPSILON:
        raise InvalidInput.coded("job_fit_epsilon", most=MAX_EPSILON)
    return str(model), sql, [f.lower() for f in features], label and label.lower(), float(epsilon)


def submit_model(
    session: Session,
    license_id: int,
    user: Principal,
    request: dict[str, Any],
    parent_id: int | None = None,
) -> tuple[int, TrainingPlan]:
    """Record a training job with its ε charged (PolicyDenied, BudgetExhausted refuse it
    and change nothing). Caller commits."""
    kind, sql, features, label, epsilon = _checked(request)
    license = _license_for(session, license_id, user)
    schemas = {d.name: d.schema() for d in list_datasets(session)}
    scope = Level(license.max_level)
    plan = plan_training(sql, schemas, tuple(license.datasets), scope, kind, features, label)
    params = request.get("params") or {}
    model = {"kind": kind, "features": features, "label": label, "bounds": plan.bounds,
             "epsilon": epsilon, "params": params if isinstance(params, dict) else {}}  # fmt: skip
    job = _new_job(
        session, license, user, "model", sql,
        engine="diffprivlib", decision=Decision.ALLOW, reasons=[],
        rewritten_sql=plan.sql, level=plan.level.value, epsilon=epsilon,
        policy={"datasets": [plan.dataset], "model": model, "cells": []},
        status=JobStatus.QUEUED, parent_id=parent_id,
        required_reviews=2 if plan.level.rank > Level.L2.rank else 1,
    )  # fmt: skip
    details = {
        "license": license.id,
        "operator_id": license.operator_id,
        "dataset": plan.dataset,
        "model": kind,
        "features": features,
        "label": label,
        "rewritten_sql": plan.sql,
        **({"parent": f"job:{parent_id}"} if parent_id is not None else {}),
    }
    append(session, user.actor, AuditAction.JOB_SUBMITTED, f"job:{job.id}", details)
    charge(session, license, str(job.id), epsilon, user.actor)
    return job.id, plan


def fit_request(service: BrokerService, request: dict[str, Any]) -> Reply:
    """Train the requested model as a child job; the reply carries its record only."""
    try:
        with service.sessions() as session, session.begin():
            parent = service.parent(session)
            child_id, _ = submit_model(
                session, parent.license_id, service.submitter(parent), request, service.parent_id
            )
    except SluiceError as exc:
        reasons = [r.to_dict() for r in exc.reasons]
        return Reply.refused("denied" if reasons else "refused", exc.message, reasons=reasons)
    done = service.run_job(service.sessions, service.home, child_id, service.settings)
    if done.status != JobStatus.AWAITING_REVIEW:
        from jobs.broker_service import released_table

        return released_table(service.home, done)  # says why, as for a query
    import json

    record = json.loads((candidate_dir(service.home, done) / MODEL_FILE).read_text("utf-8"))
    return Reply({"ok": True, "status": "trained", "job": done.id, "model": record})
