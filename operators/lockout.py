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

from sqlalchemy import delete, select, text
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
    unless `name` is locked out.

    The attempt is counted as a failure before it runs, in the transaction that checks
    the lockout (one per name at a time), and forgotten only if it lets the user in:
    guesses made at once each see the others as failures, so no more than the allowed
    number are ever checked."""
    now = now or utcnow()
    with transaction() as session:
        mine = _claim_attempt(session, name, lockout, now)
    try:
        with transaction() as session:
            result = attempt(session)
            session.execute(delete(LoginFailure).where(LoginFailure.id == mine))
            return result
    except PermissionDenied:
        raise  # a wrong login: it stays counted
    except Exception:
        with transaction() as session:  # not a guess that failed: the login itself broke
            session.execute(delete(LoginFailure).where(LoginFailure.id == mine))
        raise


def _claim_attempt(session: Session, name: str, lockout: Lockout, now: datetime) -> int:
    """Refuse a locked-out name (recording nothing), else record this attempt as a
    failure until it proves right; the record's id. Failures too old to matter, any
    name's, are forgotten."""
    if session.get_bind().dialect.name == "postgresql":  # SQLite's writers already queue
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": name})
    since = now - timedelta(minutes=lockout.window_minutes + lockout.lock_minutes)
    # every name's failures too old to matter: names tried once and never again (a spray
    # of made-up names) would otherwise stay on record
    session.execute(delete(LoginFailure).where(LoginFailure.at <= since))
    # every failure on record counts, even one stamped after `now`: an attempt that
    # read the clock before this one and took the lock after it
    found = session.scalars(
        select(LoginFailure.at).where(LoginFailure.name == name).order_by(LoginFailure.at)
    )
    until = locked_until(list(found), lockout)
    if until is not None and now < until:
        minutes = max(1, math.ceil((until - now).total_seconds() / 60))
        raise PermissionDenied.coded("login_locked", minutes=minutes)
    failure = LoginFailure(name=name, at=now)
    session.add(failure)
    session.flush()
    return failure.id
