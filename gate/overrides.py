"""Which disclosure rules an output is checked with: the domain's, refined per dataset.

The domain's rules come from settings (`SLUICE_DISCLOSURE`, ACRO's defaults when
unset). The data authority may refine them for one dataset (`sluice outputs rules
set --dataset NAME ...`); a refinement weaker than the domain's rules must name each
weaker parameter in `allow_weaker`, and is recorded in the audit log. An output over
several datasets is checked with the strictest value of every parameter among them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction, append
from catalog import get_dataset
from core.errors import InvalidInput, NotFound, PermissionDenied, Step
from gate.disclosure import DisclosureRules, rule_name
from gate.records import DatasetDisclosure

__all__ = ["clear_dataset_rules", "dataset_rules", "rules_for", "set_dataset_rules"]

RULE_SETTERS = ("authority", "admin")


def _may_set(actor: Actor) -> None:
    if actor.role not in RULE_SETTERS:
        raise PermissionDenied.coded("gate_rules_role", name=actor.name, role=actor.role)


def set_dataset_rules(
    session: Session,
    dataset: str,
    values: dict[str, Any],
    domain_rules: DisclosureRules,
    actor: Actor,
    allow_weaker: list[str] | None = None,
) -> DatasetDisclosure:
    """Refine the domain's rules for one dataset; weaker values only when named."""
    _may_set(actor)
    get_dataset(session, dataset)
    if not values:
        raise InvalidInput.coded(
            "gate_no_rule_to_set",
            suggestion="name at least one rule and its value, e.g. threshold 20",
            step=Step.NAME_A_RULE,
        )
    weaker = sorted({rule_name(name) for name in allow_weaker or ()})
    values = {rule_name(key): value for key, value in values.items()}
    effective = DisclosureRules.from_dict(values, allow_weaker=weaker, base=domain_rules)
    record = session.scalar(select(DatasetDisclosure).where(DatasetDisclosure.dataset == dataset))
    if record is None:
        record = DatasetDisclosure(dataset=dataset, rules={}, allow_weaker=[], set_by=actor.name)
        session.add(record)
    record.rules, record.allow_weaker, record.set_by = dict(values), weaker, actor.name
    session.flush()
    details = {
        "rules": dict(values),
        "allow_weaker": weaker,
        "weaker_than_domain": effective.weaker_than(domain_rules),
    }
    append(session, actor, AuditAction.DISCLOSURE_RULES_SET, f"dataset:{dataset}", details)
    return record


def clear_dataset_rules(session: Session, dataset: str, actor: Actor) -> None:
    _may_set(actor)
    record = session.scalar(select(DatasetDisclosure).where(DatasetDisclosure.dataset == dataset))
    if record is None:
        raise NotFound.coded("dataset_no_rules", name=dataset)
    session.delete(record)
    append(session, actor, AuditAction.DISCLOSURE_RULES_CLEARED, f"dataset:{dataset}", {})


def dataset_rules(session: Session) -> list[DatasetDisclosure]:
    return list(session.scalars(select(DatasetDisclosure).order_by(DatasetDisclosure.dataset)))


def _refined(domain_rules: DisclosureRules, record: DatasetDisclosure) -> DisclosureRules:
    """One dataset's rules; if the domain has since grown stricter, never below it."""
    try:
        return DisclosureRules.from_dict(
            record.rules, allow_weaker=record.allow_weaker, base=domain_rules
        )
    except InvalidInput:
        return DisclosureRules.strictest(domain_rules, domain_rules.replace(**record.rules))


def rules_for(
    session: Session, domain_rules: DisclosureRules, datasets: list[str]
) -> DisclosureRules:
    """The rules for an output over these datasets: the strictest of each one's rules."""
    if not datasets:
        return domain_rules
    records = {
        r.dataset: r
        for r in session.scalars(
            select(DatasetDisclosure).where(DatasetDisclosure.dataset.in_(datasets))
        )
    }
    every = [
        _refined(domain_rules, records[name]) if name in records else domain_rules
        for name in datasets
    ]
    return DisclosureRules.strictest(*every)
