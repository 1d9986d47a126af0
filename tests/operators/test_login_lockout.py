"""Lockout after repeated wrong logins: five wrong codes or passwords for a name within
fifteen minutes refuse that name for fifteen minutes, right code or not, known name or
not; every refusal is on the record."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit_log.records import AuditEntry
from core.db import utcnow
from core.errors import PermissionDenied
from operators.accounts import HOST_ADMIN, get_user
from operators.lockout import LOCKOUT, Lockout, guarded_login, locked_until
from operators.login_codes import check_login_code, issue_login_code
from operators.passwords import check_password, set_password
from operators.records import LoginFailure
from tests.conftest import World

WRONG = "AAAA-AAAA-AAAA"


def _issue(world: World, name: str = "wang") -> str:
    with world.domain.transaction() as session:
        return issue_login_code(session, get_user(session, name), HOST_ADMIN.actor, minutes=120)


def _try(world: World, name: str, code: str, now: datetime) -> str:
    """The code of the answer to one login attempt ("ok" if it let the user in)."""

    def attempt(session: Session) -> str:
        return check_login_code(session, name, code, now=now).name

    try:
        guarded_login(world.domain.transaction, name, attempt, LOCKOUT, now)
    except PermissionDenied as refused:
        return str(refused.message_code)
    return "ok"


def _brute_force(world: World, name: str, now: datetime) -> list[str]:
    return [_try(world, name, WRONG, now + timedelta(seconds=i)) for i in range(8)]


def test_brute_force_is_stopped_after_five_wrong_codes(world: World) -> None:
    answers = _brute_force(world, "wang", utcnow())
    assert answers == ["login_code_wrong"] * 5 + ["login_locked"] * 3


def test_the_right_code_is_refused_during_the_lockout_and_works_after(world: World) -> None:
    code = _issue(world)
    start = utcnow()
    _brute_force(world, "wang", start)
    assert _try(world, "wang", code, start + timedelta(minutes=10)) == "login_locked"
    # refusals while locked do not prolong it: 15 minutes after the fifth wrong code
    assert _try(world, "wang", code, start + timedelta(minutes=14)) == "login_locked"
    assert _try(world, "wang", code, start + timedelta(minutes=15, seconds=5)) == "ok"


def test_unknown_names_are_answered_the_same(world: World) -> None:
    _issue(world)
    start = utcnow()
    known, unknown = _brute_force(world, "wang", start), _brute_force(world, "nobody", start)
    assert known == unknown
    later = start + timedelta(minutes=1)
    with pytest.raises(PermissionDenied) as on_known:
        guarded_login(world.domain.transaction, "wang", lambda _s: None, LOCKOUT, later)
    with pytest.raises(PermissionDenied) as on_unknown:
        guarded_login(world.domain.transaction, "nobody", lambda _s: None, LOCKOUT, later)
    assert str(on_known.value) == str(on_unknown.value)
    assert "locked" in str(on_known.value)


def test_other_names_are_not_locked(world: World) -> None:
    code = _issue(world, "zhao")
    start = utcnow()
    _brute_force(world, "wang", start)
    assert _try(world, "zhao", code, start + timedelta(seconds=10)) == "ok"


def test_wrong_passwords_share_the_lockout(world: World) -> None:
    with world.domain.transaction() as session:
        set_password(session, get_user(session, "wang"), "a long good passphrase", HOST_ADMIN.actor)
    start = utcnow()

    def with_password(password: str) -> Callable[[Session], str]:
        return lambda session: check_password(session, "wang", password).name

    for i in range(5):
        with pytest.raises(PermissionDenied):
            moment = start + timedelta(seconds=i)
            guarded_login(world.domain.transaction, "wang", with_password("nope"), LOCKOUT, moment)
    with pytest.raises(PermissionDenied) as refused:
        right = with_password("a long good passphrase")
        guarded_login(
            world.domain.transaction, "wang", right, LOCKOUT, start + timedelta(minutes=1)
        )
    assert refused.value.message_code == "login_locked"


def test_failures_spread_wider_than_the_window_do_not_lock() -> None:
    start = datetime(2026, 1, 1)
    spread = [start + timedelta(minutes=4 * i) for i in range(5)]  # 16 minutes
    assert locked_until(spread, LOCKOUT) is None
    close = [start + timedelta(minutes=3 * i) for i in range(5)]  # 12 minutes
    assert locked_until(close, LOCKOUT) == close[-1] + timedelta(minutes=15)
    assert locked_until(close[:4], LOCKOUT) is None
    assert locked_until(close[:3], Lockout(failures=3)) == close[2] + timedelta(minutes=15)


def test_console_login_is_locked_and_every_refusal_audited(world: World) -> None:
    from fastapi.testclient import TestClient

    from service.api import create_app

    client = TestClient(create_app(world.domain.settings), follow_redirects=False)
    code = _issue(world)
    for _ in range(5):
        wrong = client.post("/login", data={"name": "wang", "code": WRONG})
        assert wrong.status_code == 401 and 'id="bad-code"' in wrong.text
    locked = client.post("/login", data={"name": "wang", "code": code})
    assert locked.status_code == 401 and 'id="locked"' in locked.text
    assert "锁定" in locked.text  # worded in the reader's language (zh-CN by default)
    unknown = [client.post("/login", data={"name": "nobody", "code": WRONG}) for _ in range(6)]
    assert 'id="locked"' in unknown[-1].text and 'id="locked"' not in unknown[-2].text
    with world.domain.transaction() as session:
        refusals = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "request.refused", AuditEntry.subject == "POST /login"
            )
        ).all()
    assert len(refusals) == 12
    assert sum("locked" in str(r.details["message"]) for r in refusals) == 2


def test_concurrent_guesses_get_no_more_than_the_allowed_tries(world: World) -> None:
    """Twelve wrong guesses at once: at most five are ever checked. Counting a failure
    only after its attempt failed would let every guess that started in between through."""
    checked: list[int] = []
    start = threading.Barrier(12)

    def attempt(session: Session) -> str:
        checked.append(1)
        time.sleep(0.05)  # an Argon2 check takes a while: guesses overlap
        raise PermissionDenied.coded("password_wrong")

    def guess(_: int) -> str:
        start.wait()
        try:
            guarded_login(world.domain.transaction, "wang", attempt, LOCKOUT)
        except PermissionDenied as refused:
            return str(refused.message_code)
        return "ok"

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(guess, range(12)))
    assert len(checked) <= LOCKOUT.failures, answers
    assert answers.count("password_wrong") == len(checked)
    assert set(answers) <= {"password_wrong", "login_locked"}
    later = utcnow() + timedelta(minutes=1)  # and the name is locked out after them
    assert _try(world, "wang", WRONG, later) == "login_locked"


def test_a_spray_of_names_leaves_no_rows_once_too_old_to_matter(world: World) -> None:
    """Failures are kept by the name typed; made-up names tried once are forgotten by the
    next attempt of anyone, once no lockout could depend on them."""
    start = utcnow()
    for i in range(30):
        _try(world, f"made-up-{i}", WRONG, start)
    with world.domain.transaction() as session:
        assert len(session.scalars(select(LoginFailure)).all()) == 30
    later = start + timedelta(minutes=LOCKOUT.window_minutes + LOCKOUT.lock_minutes, seconds=1)
    _try(world, "wang", WRONG, later)
    with world.domain.transaction() as session:
        assert [f.name for f in session.scalars(select(LoginFailure))] == ["wang"]
