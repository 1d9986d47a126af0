"""Who is in the domain: companies, users and their tokens, listed for the administrator
(a token is listed by its id and term, never by its value or hash)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from operators.records import ApiToken, Operator, User

__all__ = ["list_operators", "list_tokens", "list_users"]


def list_operators(session: Session) -> list[Operator]:
    return list(session.scalars(select(Operator).order_by(Operator.id)))


def list_users(session: Session, operator_id: int | None = None) -> list[dict[str, Any]]:
    """Users with their company's name, oldest first; only one company's with operator_id."""
    query = (
        select(User, Operator.name)
        .outerjoin(Operator, Operator.id == User.operator_id)
        .order_by(User.id)
    )
    if operator_id is not None:
        query = query.where(User.operator_id == operator_id)
    return [{**user.to_dict(), "operator": company} for user, company in session.execute(query)]


def list_tokens(session: Session, user: User | None = None) -> list[dict[str, Any]]:
    """Each token's id, holder and term; the token and its hash stay out."""
    query = select(ApiToken, User.name).join(User, User.id == ApiToken.user_id)
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return [
        {
            "id": token.id,
            "user": name,
            "created_at": token.created_at.isoformat(timespec="seconds"),
            "expires_at": token.expires_at.isoformat(timespec="seconds"),
            "revoked": token.revoked,
        }
        for token, name in session.execute(query.order_by(ApiToken.id))
    ]
