"""Lockout after repeated wrong logins: a name with too many wrong passwords or one-time
codes in a short window is refused for a while, whatever is typed next.

Failures are counted by the name typed, whether or not such a user exists, and a
refusal during the lockout costs no hashing, so the lockout tells nothing about which
names exist. A refusal while locked out is not itself counted: the lockout ends when
its minutes are up, however often someone keeps trying.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.errors import PermissionDenied
from operators.records import LoginFailure

__all__ = ["LOCKOUT", "Lockout", "guarded_login", "locked_until"]

T = TypeVar("T")
Transaction = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class Lockout:
    """`failures` wrong logins for one name within `window_minutes` lock it for
    `lock_minutes` from the last of them."""

    failures: int = 5
    window_minutes: int = 15
    lock_minutes: int = 15


LOCKOUT = Lockout()


def locked_until(failures: Sequence[datetime], lockout: Lockout) -> datetime | None:
    """When the latest lockout these failure times (oldest first) cause ends, if any."""
    window = timedelta(minutes=lockout.window_minutes)
    ends = [
        failures[i] + timedelta(minutes=lockout.lock_minutes)
        for i in range(lockout.failures - 1, len(failures))
        if failures[i] - failures[i - lockout.failures + 1] <= window
    ]
    return max(ends, default=None)


def guarded_login(
    transaction: Transaction,
    name: str,
    attempt: Callable[[Session], T],
    lockout: Lockout = LOCKOUT,
    now: datetime | None = None,
) -> T:
    """Run `attempt` (a password or code check and what follows it) in one transaction,
    unless `name` is locked out; a wrong login is counted in a transaction of its own,
    since the attempt's own is rolled back with its refusal."""
    now = now or utcnow()
    try:
        with transaction() as session:
            _refuse_while_locked(session, name, lockout, now)
            return attempt(session)
    except PermissionDenied as refused:
        if refused.message_code != "login_locked":
            with transaction() as session:
                _count_failure(session, name, lockout, now)
        raise


def _refuse_while_locked(session: Session, name: str, lockout: Lockout, now: datetime) -> None:
    since = now - timedelta(minutes=lockout.window_minutes + lockout.lock_minutes)
    found = session.scalars(
        select(LoginFailure.at)
        .where(LoginFailure.name == name, LoginFailure.at > since, LoginFailure.at <= now)
        .order_by(LoginFailure.at)
    )
    until = locked_until(list(found), lockout)
    if until is not None and now < until:
        minutes = max(1, math.ceil((until - now).total_seconds() / 60))
        raise PermissionDenied.coded("login_locked", minutes=minutes)


def _count_failure(session: Session, name: str, lockout: Lockout, now: datetime) -> None:
    """Record one wrong login, and forget the name's failures too old to matter."""
    forget = now - timedelta(minutes=lockout.window_minutes + lockout.lock_minutes)
    session.execute(delete(LoginFailure).where(LoginFailure.name == name, LoginFailure.at < forget))
    session.add(LoginFailure(name=name, at=now))
