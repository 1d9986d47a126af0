"""Calling an interface product: the key's rate and budget, the consent, the run, and the
call's record, fee and audit entry.

A template call is a job: its bound SQL goes through the policy engine, the sandbox,
DP noise and the output gate (differencing included), with ε charged to the licence
and to the buyer's key; only the released table comes back. A scoring call looks the
consenting subject's features up inside the domain and returns only the approved
output of the released model. A refused call is recorded and audited, then raised.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import duckdb
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlglot import exp

from audit_log import Actor, AuditAction, append
from catalog import get_dataset, list_datasets
from core.db import utcnow
from core.errors import (
    BudgetExhausted,
    Conflict,
    InvalidInput,
    NotFound,
    PolicyDenied,
    RateLimited,
    SluiceError,
)
from core.home import Home
from gate.model_artifact import DpModel
from gate.populations import mark_released
from gate.step import candidate_table
from jobs.license_data import license_files
from jobs.lifecycle import transition
from jobs.queries import get_job
from jobs.records import JobStatus
from jobs.runner import run
from jobs.settings import JobSettings
from jobs.submit import submit_sql
from operators.accounts import Principal
from operators.licenses import usable_license
from products.consents import subject_pseudonym, valid_consent
from products.interface_records import Interface, InterfaceCall, InterfaceKey
from products.interfaces import get_interface, key_for, product_of
from products.models import released_model
from products.pricing import fee_for
from products.records import Release
from products.templates import Parameter, bind
from products.usage import UsageRecord

Sessions = Callable[[], Session]


@dataclass
class CallRequest:
    """What a buyer sends: template parameters, or one subject's identifier and purpose."""

    parameters: dict[str, Any] = field(default_factory=dict)
    identifier: str | None = None
    purpose: str | None = None


@dataclass
class CallResult:
    call_id: int
    interface_id: int
    kind: str
    consent_id: int | None
    output: dict[str, Any] | None = None
    rows: list[dict[str, Any]] | None = None
    epsilon: float = 0.0
    fee_yuan: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "call": self.call_id,
            "interface": self.interface_id,
            "kind": self.kind,
            "consent": self.consent_id,
            "output": self.output,
            "rows": self.rows,
            "epsilon": self.epsilon,
            "fee_yuan": self.fee_yuan,
        }


def _record(
    session: Session,
    interface: Interface,
    key: InterfaceKey,
    outcome: str,
    *,
    consent_id: int | None = None,
    job_id: int | None = None,
    reason: str = "",
    epsilon: float = 0.0,
) -> InterfaceCall:
    """The call's row, its fee (answered calls only) and its audit entry."""
    fee = 0.0
    call = InterfaceCall(
        interface_id=interface.id,
        key_id=key.id,
        consent_id=consent_id,
        job_id=job_id,
        outcome=outcome,
        reason=reason,
        epsilon=epsilon,
    )
    if outcome == "answered":
        product = product_of(session, interface)
        unit, fee = fee_for(product.pricing, key.buyer_type, metered=True)
        session.add(
            UsageRecord(
                product_id=product.id,
                buyer=key.buyer,
                buyer_type=key.buyer_type,
                quantity=1,
                unit_price=unit,
                amount=fee,
                note=f"interface {interface.id} call",
                recorded_by=f"interface:{interface.id}",
            )
        )
    call.fee_yuan = fee
    session.add(call)
    session.flush()
    action = (
        AuditAction.INTERFACE_CALLED if outcome == "answered" else AuditAction.INTERFACE_REFUSED
    )
    details = {
        "call": call.id,
        "key": key.id,
        "consent": consent_id,
        "job": job_id,
        "outcome": outcome,
        "reason": reason,
        "epsilon": epsilon,
        "fee_yuan": fee,
        "license": interface.license_id,
        "operator_id": interface.operator_id,
    }
    append(session, Actor(key.buyer, "buyer"), action, f"interface:{interface.id}", details)
    return call


def _refuse(
    sessions: Sessions, interface_id: int, key_id: int, error: SluiceError, **kw: Any
) -> None:
    """Record the refusal in its own transaction, then raise it."""
    with sessions() as session, session.begin():
        interface = get_interface(session, interface_id)
        key = session.get(InterfaceKey, key_id)
        assert key is not None
        _record(session, interface, key, "refused", reason=error.message, **kw)
    raise error


def _admit(session: Session, token: str, interface_id: int) -> tuple[Interface, InterfaceKey]:
    key = key_for(session, token, interface_id)
    interface = get_interface(session, interface_id)
    return interface, key


def _rate_problem(session: Session, key: InterfaceKey) -> SluiceError | None:
    since = utcnow() - timedelta(minutes=1)
    recent = session.scalar(
        select(func.count(InterfaceCall.id)).where(
            InterfaceCall.key_id == key.id, InterfaceCall.at >= since
        )
    )
    if (recent or 0) >= key.calls_per_minute:
        return RateLimited.coded("interface_rate_limited", calls_per_minute=key.calls_per_minute)
    return None


def _stopped(session: Session, interface: Interface) -> SluiceError | None:
    product = product_of(session, interface)
    if interface.status != "active" or product.status != "listed":
        return Conflict.coded(
            "interface_not_served", interface_id=interface.id, status=product.status
        )
    return None


def call_interface(
    sessions: Sessions,
    home: Home,
    settings: JobSettings,
    token: str,
    interface_id: int,
    request: CallRequest,
) -> CallResult:
    """Answer one call, or record and raise why not. A scoring call is one transaction;
    a template call commits each step, as a job does."""
    consent_id: int | None = None
    with sessions() as session, session.begin():
        interface, key = _admit(session, token, interface_id)
        key_id, kind = key.id, interface.kind
        problem = _stopped(session, interface) or _rate_problem(session, key)
        if problem is None and kind == "scoring":
            try:
                subject = _subject(home, request)
                consent_id = valid_consent(session, key, subject, request.purpose or "").id
                output = _model_output(session, home, interface, subject)
            except SluiceError as error:
                problem = error
            else:
                call = _record(session, interface, key, "answered", consent_id=consent_id)
                return CallResult(call.id, interface.id, kind, consent_id, output=output,
                                  fee_yuan=call.fee_yuan)  # fmt: skip
    if problem is not None:
        _refuse(sessions, interface_id, key_id, problem, consent_id=consent_id)
    return _run_template(sessions, home, settings, interface_id, key_id, request)


def _subject(home: Home, request: CallRequest) -> str:
    if not request.identifier or request.parameters:
        raise InvalidInput.coded("interface_scoring_call")
    return subject_pseudonym(home, request.identifier)


def _model_output(
    session: Session, home: Home, interface: Interface, subject: str
) -> dict[str, Any]:
    """The approved output (score, grade or class) for one subject; never its features."""
    definition = interface.definition
    release = session.get(Release, definition["release"])
    assert release is not None
    model, digest = released_model(session, home, release)
    if digest != definition["model_sha256"]:
        raise Conflict.coded("interface_model_changed", interface_id=interface.id)
    features = subject_features(session, home, interface, subject)
    return shape_output(model, features, definition)


def shape_output(
    model: DpModel, features: dict[str, float], definition: Mapping[str, Any]
) -> dict[str, Any]:
    output = definition["output"]
    if output == "class" or model.kind in ("linear_regression", "kmeans"):
        value = model.predict([features])[0]
        if isinstance(value, float):
            value = round(value, 2)
        return {"class" if output == "class" else "score": value}
    score = round(float(model.scores([features])[0][-1]), 2)
    if output == "score":
        return {"score": score}
    grade = next(label for cut, label in definition["grades"] if score >= cut)
    return {"grade": grade}


def subject_features(
    session: Session, home: Home, interface: Interface, subject: str
) -> dict[str, float]:
    """The subject's mapped columns, read in the domain from the licence's files (its row
    filters apply); a subject with several rows gets each column's mean."""
    license = usable_license(session, interface.license_id)
    files = license_files(session, home, license)
    wanted: dict[str, list[tuple[str, str]]] = {}
    for feature, target in interface.definition["features"].items():
        dataset, _, column = target.partition(".")
        wanted.setdefault(dataset, []).append((feature, column))
    found: dict[str, float] = {}
    for dataset, columns in wanted.items():
        path = files[dataset]
        unit = get_dataset(session, dataset).schema().privacy_unit
        names = tuple(c for _, c in columns)
        table = _by_subject(str(path), path.stat().st_mtime_ns, unit, names)
        values = table.get(subject)
        if values is None or any(math.isnan(v) for v in values):
            raise NotFound.coded("interface_subject_missing")
        for (feature, _), value in zip(columns, values, strict=True):
            found[feature] = value
    return found


@functools.lru_cache(maxsize=16)
def _by_subject(
    path: str, mtime_ns: int, unit: str, columns: tuple[str, ...]
) -> dict[str, tuple[float, ...]]:
    """Each subject's mean of `columns` in one store file, read once per file version
    (store files are read-only; a new version is a new file or a new mtime)."""
    del mtime_ns  # part of the cache key only
    names = ", ".join(f"AVG({_quoted(c)})" for c in columns)
    with duckdb.connect() as connection:
        rows = connection.execute(
            f"SELECT {_quoted(unit)}, {names} FROM read_parquet(?) "
            f"WHERE {_quoted(unit)} IS NOT NULL GROUP BY 1",
            [path],
        ).fetchall()
    nan = float("nan")
    return {str(r[0]): tuple(nan if v is None else float(v) for v in r[1:]) for r in rows}


def _quoted(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def _run_template(
    sessions: Sessions,
    home: Home,
    settings: JobSettings,
    interface_id: int,
    key_id: int,
    request: CallRequest,
) -> CallResult:
    problem: SluiceError | None = None
    with sessions() as session, session.begin():
        interface = get_interface(session, interface_id)
        key = session.get(InterfaceKey, key_id)
        assert key is not None
        epsilon = interface.epsilon_per_call
        schemas = {d.name: d.schema() for d in list_datasets(session)}
        parameters = [Parameter.from_dict(p) for p in interface.definition["parameters"]]
        try:
            if request.identifier is not None:
                raise InvalidInput.coded("interface_template_call")
            sql = bind(interface.definition["sql"], parameters, request.parameters, schemas)
            if key.epsilon_spent + epsilon > key.epsilon_total + 1e-9:
                left = key.epsilon_total - key.epsilon_spent
                raise BudgetExhausted.coded("interface_key_budget", left=left, epsilon=epsilon)
            caller = Principal(f"interface:{interface.id}/key:{key.id}", "operator",
                               interface.operator_id)  # fmt: skip
            job_settings = replace(settings, epsilon_per_query=epsilon)
            job = submit_sql(session, interface.license_id, caller, sql, job_settings)
        except SluiceError as error:
            problem = error
        else:
            if job.status == JobStatus.DENIED:
                problem = PolicyDenied.coded("interface_call_denied")
            key.epsilon_spent = round(key.epsilon_spent + (job.epsilon or 0.0), 9)
            job_id = job.id
    if problem is not None:
        _refuse(sessions, interface_id, key_id, problem)
    run(sessions, home, job_id, job_settings)
    with sessions() as session, session.begin():
        interface = get_interface(session, interface_id)
        key = session.get(InterfaceKey, key_id)
        assert key is not None
        job = get_job(session, job_id)
        if job.status != JobStatus.AWAITING_REVIEW:
            withheld = PolicyDenied.coded("interface_answer_withheld")
            _record(session, interface, key, "blocked", job_id=job_id,
                    reason=withheld.message, epsilon=job.epsilon)  # fmt: skip
            problem = withheld
        else:
            table = candidate_table(home, job)
            call = _record(session, interface, key, "answered", job_id=job_id, epsilon=job.epsilon)
            transition(
                session, job, JobStatus.RELEASED, Actor.system(), {"interface_call": call.id}
            )
            mark_released(session, job.id)
            rows = [{k: _plain(v) for k, v in r.items()} for r in table.to_dict("records")]
            return CallResult(call.id, interface.id, "template", None, rows=rows,
                              epsilon=job.epsilon, fee_yuan=call.fee_yuan)  # fmt: skip
    assert problem is not None
    raise problem


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value
