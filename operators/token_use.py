"""Token use as signal, not noise: one `token.used` entry per token per hour, with its count.

Each request only bumps the token's counter for the current hour (one upsert). When
an hour has ended, the next request by anyone (or `close_token_use`, run by the
audit commands) turns each finished counter into one audit entry carrying the
exact count and the first and last use, then drops the counter. Revoking a token
closes its open hour at once, so its last uses are on the record with the revocation.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction, append
from core.db import utcnow
from operators.records import ApiToken, TokenUse, User


def period_of(moment: datetime) -> datetime:
    """The hour a use falls in (UTC, naive like every stored time)."""
    return moment.replace(minute=0, second=0, microsecond=0)


def count_use(session: Session, token_id: int, now: datetime) -> None:
    """Add one use of a token to its counter for this hour (atomic under concurrency)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(TokenUse).values(
        token_id=token_id, period_start=period_of(now), uses=1, first_used=now, last_used=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=[TokenUse.token_id, TokenUse.period_start],
        set_={"uses": TokenUse.uses + 1, "last_used": now},
    )
    session.execute(statement)


def _log(session: Session, rows: Iterable[TokenUse]) -> int:
    logged = 0
    for row in rows:
        token = session.get(ApiToken, row.token_id)
        user = session.get(User, token.user_id) if token is not None else None
        actor = Actor(user.name, user.role) if user is not None else Actor.system()
        subject = f"user:{user.id}" if user is not None else f"token:{row.token_id}"
        details = {
            "token_id": row.token_id,
            "period_start": row.period_start.isoformat(timespec="seconds") + "Z",
            "count": row.uses,
            "first_used": row.first_used.isoformat(timespec="seconds") + "Z",
            "last_used": row.last_used.isoformat(timespec="seconds") + "Z",
        }
        append(session, actor, AuditAction.TOKEN_USED, subject, details)
        session.execute(delete(TokenUse).where(TokenUse.id == row.id))
        logged += 1
    return logged


def close_token_use(
    session: Session, now: datetime | None = None, token_ids: Iterable[int] = ()
) -> int:
    """Log every counter whose hour has ended (and those of `token_ids`, hour or not).

    Returns how many `token.used` entries were written.
    """
    current = period_of(now or utcnow())
    ended = select(TokenUse).where(TokenUse.period_start < current)
    rows = list(session.scalars(ended.order_by(TokenUse.period_start, TokenUse.token_id)))
    wanted = list(token_ids)
    if wanted:
        rows += session.scalars(
            select(TokenUse).where(TokenUse.period_start >= current, TokenUse.token_id.in_(wanted))
        )
    return _log(session, rows)
