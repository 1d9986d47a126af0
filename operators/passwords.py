"""Console passwords: Argon2id hashes, one answer for every failure.

Tokens stay the way machines log in; people may set a password and log in with
their name. A wrong name and a wrong password are refused alike, and verifying
always costs one Argon2 computation, so a login cannot tell which names exist.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction, append
from core.errors import InvalidInput, PermissionDenied
from operators.records import User

__all__ = ["HASHER", "MIN_PASSWORD_LENGTH", "check_password", "matches_hash", "set_password"]

MIN_PASSWORD_LENGTH = 12
HASHER = PasswordHasher()  # Argon2id with the library's current RFC 9106 parameters


@cache
def _decoy() -> str:
    """Compared against when the name is unknown, so both refusals cost the same (made
    on first use: hashing costs ~0.2 s, which every CLI start would otherwise pay)."""
    return HASHER.hash("sluice-decoy-password")


def set_password(session: Session, user: User, password: str, actor: Actor) -> None:
    """Store a new password's hash; refused if too short or just the user's name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput.coded("op_password_short", length=MIN_PASSWORD_LENGTH)
    if user.name.lower() in password.lower():
        raise InvalidInput.coded("op_password_has_name")
    user.password_hash = HASHER.hash(password)
    append(session, actor, AuditAction.PASSWORD_SET, f"user:{user.id}", {"user": user.name})


def matches_hash(stored: str | None, secret: str) -> bool:
    """Whether `secret` matches the Argon2 hash `stored`; with no hash, a decoy is checked
    instead, so a missing hash costs as much as a wrong secret."""
    try:
        HASHER.verify(stored or _decoy(), secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return stored is not None


def check_password(session: Session, name: str, password: str) -> User:
    """The user with this name and password; PermissionDenied alike for any mismatch."""
    user = session.scalar(select(User).where(User.name == name))
    stored = user.password_hash if user is not None else None
    if not matches_hash(stored, password) or user is None:
        raise PermissionDenied.coded("password_wrong")
    if HASHER.check_needs_rehash(stored or ""):
        user.password_hash = HASHER.hash(password)
    return user
