"""Interface products (数据分析接口): an approved release served as an API inside the
domain, and the keys buyers call it with.

Two kinds: `template`, a parameterised SQL template whose parameters take only
declared public values, each call run as a job through policy, sandbox and gate;
and `scoring`, a released DP model (`model.json`) applied to one consenting data
subject's features, looked up inside the domain. A buyer's key opens one interface;
only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import AuditAction, append
from catalog import DatasetSchema, get_dataset, list_datasets
from core.errors import InvalidInput, NotFound, PermissionDenied, PolicyDenied
from core.home import Home
from core.levels import Level, Role
from jobs.records import Job
from jobs.submit import decide
from operators.accounts import Principal
from operators.licenses import usable_license
from products.interface_records import Interface, InterfaceKey
from products.listing import list_product
from products.models import released_model
from products.pricing import BUYER_TYPES, PricingBasis
from products.records import Product
from products.release import get_release
from products.templates import Parameter, bind, check_template

KINDS = ("template", "scoring")
OUTPUTS = ("score", "grade", "class")
KEY_PREFIX = "sik_"
MAX_CALLS_PER_MINUTE = 6000


def _schemas(session: Session) -> dict[str, DatasetSchema]:
    return {d.name: d.schema() for d in list_datasets(session)}


def create_interface(
    session: Session,
    home: Home,
    release_id: int,
    user: Principal,
    name: str,
    kind: str,
    purpose: str,
    definition: Mapping[str, Any],
    *,
    epsilon_per_call: float = 0.0,
    description: str = "",
    scenario: str = "",
    pricing: PricingBasis | None = None,
) -> Interface:
    """List a release as an interface product (kind `interface`) and serve it."""
    if kind not in KINDS:
        raise InvalidInput.coded("interface_kind", kinds=", ".join(KINDS))
    if not purpose.strip():
        raise InvalidInput.coded("interface_purpose_missing")
    release = get_release(session, release_id)
    job = session.get(Job, release.job_id)
    assert job is not None
    if kind == "template":
        checked = _template_definition(session, job.license_id, definition, epsilon_per_call)
    else:
        checked = _scoring_definition(session, home, release_id, job.license_id, definition)
    product = list_product(
        session,
        release_id,
        user,
        name,
        description,
        scenario,
        pricing=pricing or PricingBasis(costs={}),
    )
    product.kind = "interface"
    interface = Interface(
        product_id=product.id,
        operator_id=product.operator_id,
        license_id=job.license_id,
        kind=kind,
        purpose=purpose.strip(),
        definition=checked,
        epsilon_per_call=epsilon_per_call if kind == "template" else 0.0,
        created_by=user.name,
    )
    session.add(interface)
    session.flush()
    append(
        session,
        user.actor,
        AuditAction.INTERFACE_CREATED,
        f"interface:{interface.id}",
        {
            "product": product.id,
            "kind": kind,
            "purpose": interface.purpose,
            "license": job.license_id,
            "operator_id": product.operator_id,
            "epsilon_per_call": interface.epsilon_per_call,
        },
    )
    return interface


def _template_definition(
    session: Session, license_id: int, definition: Mapping[str, Any], epsilon: float
) -> dict[str, Any]:
    """Check the template's parameters, then ask the policy engine about one binding."""
    sql = str(definition.get("sql", ""))
    parameters = [Parameter.from_dict(p) for p in definition.get("parameters", [])]
    schemas = _schemas(session)
    check_template(sql, parameters, schemas)
    if not 0 <= epsilon <= 10:
        raise InvalidInput.coded("interface_epsilon_range")
    example = {p.name: (p.allowed(schemas) or [p.min])[0] for p in parameters}
    decision = decide(session, license_id, bind(sql, parameters, example, schemas), epsilon)
    if decision.decision == "deny":
        refused = PolicyDenied.coded("interface_template_denied")
        raise replace(refused, reasons=list(decision.reasons))
    return {"sql": sql, "parameters": [p.to_dict() for p in parameters]}


def _scoring_definition(
    session: Session,
    home: Home,
    release_id: int,
    license_id: int,
    definition: Mapping[str, Any],
) -> dict[str, Any]:
    """Every model feature maps to a licensed, non-identifying column; output is approved."""
    model, digest = released_model(session, home, get_release(session, release_id))
    license = usable_license(session, license_id)
    features = dict(definition.get("features", {}))
    if sorted(features) != sorted(model.features):
        raise InvalidInput.coded("interface_feature_map", features=model.features)
    for feature, target in features.items():
        dataset, _, column = str(target).partition(".")
        if dataset not in license.datasets:
            raise InvalidInput.coded(
                "interface_feature_unlicensed", feature=feature, dataset=dataset
            )
        spec = get_dataset(session, dataset).schema().column(column)
        if spec is None or not spec.stored or spec.role is Role.IDENTIFIER:
            raise InvalidInput.coded("interface_feature_not_stored", feature=feature, target=target)
        if spec.level.rank > Level(license.max_level).rank:
            raise InvalidInput.coded("interface_feature_level", feature=feature, target=target)
    output = str(definition.get("output", "grade"))
    if output not in OUTPUTS:
        raise InvalidInput.coded("interface_output", outputs=", ".join(OUTPUTS))
    grades = [[float(cut), str(label)] for cut, label in definition.get("grades", [])]
    if output == "grade" and not grades:
        grades = [[0.7, "A"], [0.4, "B"], [0.0, "C"]]
    return {
        "release": release_id,
        "model_sha256": digest,
        "features": features,
        "output": output,
        "grades": sorted(grades, reverse=True),
    }


def get_interface(session: Session, interface_id: int) -> Interface:
    interface = session.get(Interface, interface_id)
    if interface is None:
        raise NotFound.coded(
            "interface_missing", suggestion="list the products", interface_id=interface_id
        )
    return interface


def list_interfaces(session: Session, operator_id: int | None = None) -> list[Interface]:
    query = select(Interface).order_by(Interface.id)
    if operator_id is not None:
        query = query.where(Interface.operator_id == operator_id)
    return list(session.scalars(query))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_key(
    session: Session,
    interface_id: int,
    user: Principal,
    buyer: str,
    buyer_type: str,
    calls_per_minute: int = 60,
    epsilon_total: float = 0.0,
) -> tuple[InterfaceKey, str]:
    """A new key for one buyer on one interface; the token is shown once, kept hashed."""
    interface = get_interface(session, interface_id)
    if user.role not in ("admin", "authority") and (
        user.role != "operator" or user.operator_id != interface.operator_id
    ):
        raise PermissionDenied.coded("interface_key_owner")
    if buyer_type not in BUYER_TYPES:
        raise InvalidInput.coded("buyer_type_choice", types=", ".join(BUYER_TYPES))
    if not buyer.strip():
        raise InvalidInput.coded("buyer_name_missing")
    if not 1 <= calls_per_minute <= MAX_CALLS_PER_MINUTE:
        raise InvalidInput.coded("interface_rate_range", max_calls=MAX_CALLS_PER_MINUTE)
    if interface.epsilon_per_call > 0 and not epsilon_total > 0:
        raise InvalidInput.coded("interface_key_budget_missing")
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    key = InterfaceKey(
        interface_id=interface.id,
        buyer=buyer.strip(),
        buyer_type=buyer_type,
        key_hash=_digest(token),
        calls_per_minute=calls_per_minute,
        epsilon_total=epsilon_total,
        issued_by=user.name,
    )
    session.add(key)
    session.flush()
    append(
        session,
        user.actor,
        AuditAction.INTERFACE_KEY_ISSUED,
        f"interface:{interface.id}",
        {
            "key": key.id,
            "buyer_type": buyer_type,
            "calls_per_minute": calls_per_minute,
            "epsilon_total": epsilon_total,
            "operator_id": interface.operator_id,
        },
    )
    return key, token


def write_key_file(path: Path, token: str) -> None:
    """Write a key where only its owner can read it (mode 0600 from the start)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token + "\n")
    os.chmod(path, 0o600)


def key_for(session: Session, token: str, interface_id: int | None = None) -> InterfaceKey:
    """The active key this token is, for this interface; PermissionDenied otherwise."""
    key = session.scalar(select(InterfaceKey).where(InterfaceKey.key_hash == _digest(token)))
    if key is None or not key.active:
        raise PermissionDenied.coded("interface_key_unknown")
    if interface_id is not None and key.interface_id != interface_id:
        raise PermissionDenied.coded("interface_key_elsewhere", interface_id=interface_id)
    return key


def product_of(session: Session, interface: Interface) -> Product:
    product = session.get(Product, interface.product_id)
    assert product is not None
    return product
