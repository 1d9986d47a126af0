"""Consents (授权) of data subjects to per-subject scoring: who, which interface and
purpose, until when; revocable, and checked on every scoring call.

The subject is kept only as the domain's pseudonym of its identifier (the keyed hash
the catalog stores), so the consent table holds no raw identifier.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction, append
from catalog import pseudonym
from catalog.identifiers import normalise
from core.db import utcnow
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.home import Home
from products.interface_records import Consent, Interface, InterfaceKey


def subject_pseudonym(home: Home, identifier: str) -> str:
    """The identifier as the store keys it (trimmed, then the domain's keyed hash)."""
    text = normalise(identifier)
    if text is None:
        raise InvalidInput.coded("consent_identifier_missing")
    return pseudonym(text, home.pseudonym_key())


def record_consent(
    session: Session,
    home: Home,
    key: InterfaceKey,
    identifier: str,
    purpose: str,
    valid_until: datetime,
    evidence: str = "",
) -> Consent:
    """The buyer records a consent it obtained from the subject (e.g. a signed form)."""
    interface = session.get(Interface, key.interface_id)
    assert interface is not None
    if interface.kind != "scoring":
        raise InvalidInput.coded("consent_scoring_only")
    if purpose.strip() != interface.purpose:
        raise InvalidInput.coded("consent_purpose", purpose=interface.purpose)
    if valid_until <= utcnow():
        raise InvalidInput.coded("consent_end_past")
    consent = Consent(
        interface_id=interface.id,
        key_id=key.id,
        subject=subject_pseudonym(home, identifier),
        purpose=interface.purpose,
        valid_until=valid_until,
        evidence=evidence,
        recorded_by=key.buyer,
    )
    session.add(consent)
    session.flush()
    append(
        session,
        Actor(key.buyer, "buyer"),
        AuditAction.CONSENT_RECORDED,
        f"consent:{consent.id}",
        {
            "interface": interface.id,
            "key": key.id,
            "purpose": consent.purpose,
            "valid_until": valid_until.isoformat(),
            "operator_id": interface.operator_id,
        },
    )
    return consent


def revoke_consent(
    session: Session, consent_id: int, actor: Actor, key: InterfaceKey | None = None
) -> Consent:
    """Withdraw a consent (the subject's request, relayed by the buyer or the domain)."""
    consent = session.get(Consent, consent_id)
    if consent is None or (key is not None and consent.key_id != key.id):
        raise NotFound.coded("consent_missing", consent_id=consent_id)
    if consent.status == "revoked":
        raise Conflict.coded("consent_revoked_already", consent_id=consent_id)
    interface = session.get(Interface, consent.interface_id)
    consent.status = "revoked"
    consent.revoked_at = utcnow()
    consent.revoked_by = actor.name
    append(
        session,
        actor,
        AuditAction.CONSENT_REVOKED,
        f"consent:{consent.id}",
        {
            "interface": consent.interface_id,
            "key": consent.key_id,
            "operator_id": interface.operator_id if interface else None,
        },
    )
    return consent


def list_consents(
    session: Session, interface_id: int, key: InterfaceKey | None = None
) -> list[Consent]:
    query = select(Consent).where(Consent.interface_id == interface_id)
    if key is not None:
        query = query.where(Consent.key_id == key.id)
    return list(session.scalars(query.order_by(Consent.id)))


def valid_consent(
    session: Session, key: InterfaceKey, subject: str, purpose: str, now: datetime | None = None
) -> Consent:
    """The consent that allows this buyer to score this subject for this purpose now;
    PermissionDenied names what is missing (none, expired, revoked, other purpose)."""
    now = now or utcnow()
    found = list(
        session.scalars(
            select(Consent)
            .where(Consent.key_id == key.id, Consent.subject == subject)
            .order_by(Consent.id.desc())
        )
    )
    for consent in found:
        if consent.status == "active" and consent.valid_until > now and consent.purpose == purpose:
            return consent
    latest = next((c for c in found if c.purpose == purpose), None)  # newest first
    if not found:
        raise PermissionDenied.coded("consent_none")
    if latest is None:
        raise PermissionDenied.coded("consent_other_purpose")
    if latest.status == "revoked":
        raise PermissionDenied.coded("consent_revoked")
    raise PermissionDenied.coded("consent_expired")
