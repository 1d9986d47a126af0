"""One-time login codes: a short-lived, single-use code a user types once on the login page.

An administrator issues the code (in the console or with the CLI) and hands it over
out of band; only its Argon2id hash and expiry are stored, and a successful login
clears both, so a code works once. A wrong, expired, used or unknown code is refused
with the same answer, at the cost of one Argon2 computation, like a wrong password.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction, append
from core.db import utcnow
from core.errors import InvalidInput, PermissionDenied
from operators.passwords import HASHER, matches_hash
from operators.records import User

__all__ = ["CODE_MINUTES", "check_login_code", "issue_login_code", "normalize_code"]

CODE_MINUTES = 10
MAX_MINUTES = 24 * 60
# Crockford's base32: no I, L, O or U, so a code read aloud or copied by hand survives
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS, GROUP_LENGTH = 3, 4  # 12 characters, 60 bits: XXXX-XXXX-XXXX


def normalize_code(code: str) -> str:
    """The code as hashed: upper case, without the dashes and spaces people type."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def issue_login_code(
    session: Session, user: User, actor: Actor, minutes: int = CODE_MINUTES
) -> str:
    """A new code for `user`, returned once; any earlier unused code stops working."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise InvalidInput.coded("op_login_code_minutes", most=MAX_MINUTES, minutes=minutes)
    groups = ("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS))
    code = "-".join(groups)
    expires = utcnow() + timedelta(minutes=minutes)
    user.login_code_hash = HASHER.hash(normalize_code(code))
    user.login_code_expires_at = expires
    details = {"user": user.name, "expires_at": expires.isoformat(timespec="seconds")}
    append(session, actor, AuditAction.LOGIN_CODE_ISSUED, f"user:{user.id}", details)
    return code


def check_login_code(session: Session, name: str, code: str, now: datetime | None = None) -> User:
    """The user whose live code this is, its code now spent; PermissionDenied alike for a
    wrong, expired, used or unknown code or name."""
    user = session.scalar(select(User).where(User.name == name))
    stored = user.login_code_hash if user is not None else None
    matched = matches_hash(stored, normalize_code(code))
    expires = user.login_code_expires_at if user is not None else None
    live = expires is not None and (now or utcnow()) < expires
    if user is None or not matched or not live or not _spend(session, user, stored):
        raise PermissionDenied.coded("login_code_wrong")
    append(session, Actor(user.name, user.role), AuditAction.LOGIN_CODE_USED, f"user:{user.id}", {})
    return user


def _spend(session: Session, user: User, stored: str | None) -> bool:
    """Clear the code only if it is still the one checked, so two logins racing with the
    same code cannot both succeed: the second updates no row."""
    spent = session.execute(
        update(User)
        .where(User.id == user.id, User.login_code_hash == stored)
        .values(login_code_hash=None, login_code_expires_at=None)
        .execution_options(synchronize_session="fetch")
    )
    return bool(getattr(spent, "rowcount", 0) == 1)
