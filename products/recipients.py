"""Operators' delivery keys (交付密钥): registered by the data authority, used to encrypt
releases so that only the receiving company can read them.

An operator with an active key gets every release encrypted to it, with the cipher
chosen at registration (AES-256-GCM, or SM4-GCM for 国密 deployments); registering
a new key retires the previous one. Private keys never enter the domain.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction, append
from core.errors import Conflict, PermissionDenied
from operators.accounts import get_operator
from products.crypto import check_cipher, fingerprint, load_recipient
from products.records import OperatorKey

__all__ = ["active_key", "list_keys", "register_key"]

KEY_REGISTRARS = ("authority", "admin")


def register_key(
    session: Session, operator: str, public_pem: bytes, actor: Actor, cipher: str = "AES-256-GCM"
) -> OperatorKey:
    """Register an operator's X25519 or SM2 public key; later releases are encrypted to it."""
    if actor.role not in KEY_REGISTRARS:
        raise PermissionDenied.coded("product_key_registrar", role=actor.role)
    check_cipher(cipher)
    company = get_operator(session, operator)
    key = load_recipient(public_pem)
    key_print = fingerprint(key)
    if session.scalar(select(OperatorKey).where(OperatorKey.fingerprint == key_print)) is not None:
        raise Conflict.coded("product_key_registered", fingerprint=key_print[:16])
    for old in session.scalars(
        select(OperatorKey).where(OperatorKey.operator_id == company.id, OperatorKey.active)
    ):
        old.active = False
    record = OperatorKey(
        operator_id=company.id,
        public_key=public_pem.decode(),
        fingerprint=key_print,
        cipher=cipher,
        active=True,
        registered_by=actor.name,
    )
    session.add(record)
    session.flush()
    details = {"operator": company.name, "fingerprint": key_print, "cipher": cipher}
    append(session, actor, AuditAction.RELEASE_KEY_REGISTERED, f"operator:{company.id}", details)
    return record


def active_key(session: Session, operator_id: int) -> OperatorKey | None:
    return session.scalar(
        select(OperatorKey).where(OperatorKey.operator_id == operator_id, OperatorKey.active)
    )


def list_keys(session: Session) -> list[OperatorKey]:
    return list(session.scalars(select(OperatorKey).order_by(OperatorKey.id)))
