"""Companies, users and bearer tokens: who may act in the domain, and as what."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction, append
from core.db import utcnow
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Step
from operators.records import ApiToken, Operator, User
from operators.token_use import close_token_use, count_use

ROLES = ("admin", "authority", "reviewer", "operator", "regulator")
TOKEN_PREFIX = "slc_"


@dataclass(frozen=True)
class Principal:
    """Whoever is acting: a user behind a token, or the host's administrator at the CLI."""

    name: str
    role: str
    operator_id: int | None = None
    user_id: int | None = None

    @classmethod
    def of(cls, user: User) -> Principal:
        return cls(user.name, user.role, user.operator_id, user.id)

    @property
    def actor(self) -> Actor:
        return Actor(self.name, self.role)


HOST_ADMIN = Principal("host-admin", "admin")


def add_operator(session: Session, name: str, actor: Actor) -> Operator:
    name = name.strip()
    if not name:
        raise InvalidInput.coded("op_operator_name_empty")
    if session.scalar(select(Operator).where(Operator.name == name)):
        raise Conflict.coded("operator_exists", name=name)
    operator = Operator(name=name)
    session.add(operator)
    session.flush()
    append(session, actor, AuditAction.OPERATOR_ADDED, f"operator:{operator.id}", {"name": name})
    return operator


def get_operator(session: Session, name: str) -> Operator:
    operator = session.scalar(select(Operator).where(Operator.name == name))
    if operator is None:
        raise NotFound.coded(
            "operator_missing",
            suggestion="add the company first",
            step=Step.ADD_OPERATOR,
            name=name,
        )
    return operator


def add_user(session: Session, name: str, role: str, operator: str | None, actor: Actor) -> User:
    if role not in ROLES:
        raise InvalidInput.coded("op_role_unknown", name=role, known=", ".join(ROLES))
    if role == "operator" and not operator:
        raise InvalidInput.coded(
            "op_operator_user_company",
            suggestion="name the company",
            step=Step.NAME_COMPANY,
        )
    if role != "operator" and operator:
        raise InvalidInput.coded(
            "op_domain_user_company",
            suggestion="leave the company out",
            step=Step.DROP_COMPANY,
            role=role,
        )
    if session.scalar(select(User).where(User.name == name)):
        raise Conflict.coded("user_exists", name=name)
    company = get_operator(session, operator) if operator else None
    user = User(name=name, role=role, operator_id=company.id if company else None)
    session.add(user)
    session.flush()
    append(
        session,
        actor,
        AuditAction.USER_ADDED,
        f"user:{user.id}",
        {"name": name, "role": role, "operator": operator},
    )
    return user


def get_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound.coded(
            "user_missing", suggestion="add the user first", step=Step.ADD_USER, name=name
        )
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User, actor: Actor, days: int = 90) -> str:
    """A new bearer token; only its hash is kept, so it is returned exactly once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(
        user_id=user.id, token_hash=_digest(token), expires_at=utcnow() + timedelta(days=days)
    )
    session.add(record)
    session.flush()
    append(
        session,
        actor,
        AuditAction.TOKEN_CREATED,
        f"user:{user.id}",
        {"token_id": record.id, "expires_at": record.expires_at.isoformat()},
    )
    return token


def authenticate(session: Session, token: str, now: datetime | None = None) -> User:
    """The token's user; the use is counted, and logged once per token per hour with its count."""
    now = now or utcnow()
    record = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if record is None or record.revoked or record.expires_at < now:
        raise PermissionDenied.coded(
            "token_unusable",
            suggestion="create a new token",
            step=Step.CREATE_TOKEN,
        )
    user = session.get(User, record.user_id)
    assert user is not None
    # every use of a token is on the record, counted per hour (the token itself never is)
    close_token_use(session, now)
    count_use(session, record.id, now)
    return user


def revoke_tokens(
    session: Session, user: User, actor: Actor, token_id: int | None = None
) -> list[int]:
    """Revoke one of a user's tokens (by id) or all of them; refused at once afterwards."""
    query = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))
    if token_id is not None:
        query = query.where(ApiToken.id == token_id)
    revoked = []
    for record in session.scalars(query.order_by(ApiToken.id)):
        record.revoked = True
        revoked.append(record.id)
    if token_id is not None and not revoked:
        raise NotFound.coded("token_missing", name=user.name, token_id=token_id)
    close_token_use(session, token_ids=revoked)
    append(session, actor, AuditAction.TOKEN_REVOKED, f"user:{user.id}", {"token_ids": revoked})
    return revoked
