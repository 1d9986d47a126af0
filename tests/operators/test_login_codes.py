"""One-time login codes: Argon2id at rest, one login each, refused once expired, every
refusal the same answer and on the record; issued from the console and the CLI."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from audit_log.records import AuditEntry
from core.db import utcnow
from core.errors import InvalidInput, PermissionDenied
from operators.accounts import HOST_ADMIN, add_user, create_token, get_user
from operators.login_codes import CODE_MINUTES, check_login_code, issue_login_code
from tests.conftest import AUTHORITY, World
from tests.console.conftest import login


def _issue(world: World, name: str = "wang") -> str:
    with world.domain.transaction() as session:
        return issue_login_code(session, get_user(session, name), HOST_ADMIN.actor)


def _client(world: World):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from service.api import create_app

    return TestClient(create_app(world.domain.settings), follow_redirects=False)


def _refusals(world: World) -> list[AuditEntry]:
    with world.domain.transaction() as session:
        found = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "request.refused", AuditEntry.subject == "POST /login"
            )
        )
        return list(found)


def test_the_code_is_stored_as_an_argon2id_hash_only(world: World) -> None:
    code = _issue(world)
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)
    bare = code.replace("-", "")
    with world.domain.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM users")).all()
        logged = connection.execute(text("SELECT details FROM audit_entries")).all()
    stored = [str(value) for row in rows for value in row]
    assert any(v.startswith("$argon2id$") for v in stored)
    assert not any(code in v or bare in v for v in stored)  # not in any column of any user
    assert not any(code in str(d) or bare in str(d) for (d,) in logged)


def test_a_code_works_once(world: World) -> None:
    code = _issue(world)
    with world.domain.transaction() as session:
        # typed by hand: lower case, spaces for dashes
        assert check_login_code(session, "wang", code.lower().replace("-", " ")).name == "wang"
    with pytest.raises(PermissionDenied), world.domain.transaction() as session:
        check_login_code(session, "wang", code)
    with world.domain.transaction() as session:
        user = get_user(session, "wang")
        assert user.login_code_hash is None and user.login_code_expires_at is None
        used = session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "wang"))
        assert "user.login_code_used" in set(used)


def test_an_expired_code_is_refused(world: World) -> None:
    code = _issue(world)
    later = utcnow() + timedelta(minutes=CODE_MINUTES, seconds=1)
    with pytest.raises(PermissionDenied), world.domain.transaction() as session:
        check_login_code(session, "wang", code, now=later)
    with world.domain.transaction() as session:  # still good within its minutes
        assert check_login_code(session, "wang", code).name == "wang"


def test_a_new_code_replaces_the_unused_one(world: World) -> None:
    first, second = _issue(world), _issue(world)
    with pytest.raises(PermissionDenied), world.domain.transaction() as session:
        check_login_code(session, "wang", first)
    with world.domain.transaction() as session:
        assert check_login_code(session, "wang", second).name == "wang"


def test_wrong_codes_and_names_get_one_answer(world: World) -> None:
    code = _issue(world)
    answers = set()
    for name, typed in (("wang", "AAAA-AAAA-AAAA"), ("nobody", code), ("zhao", code)):
        with pytest.raises(PermissionDenied) as refused, world.domain.transaction() as session:
            check_login_code(session, name, typed)
        answers.add(str(refused.value))
    assert len(answers) == 1  # nothing tells which names exist or hold a code


def test_a_code_lasts_a_bounded_time(world: World) -> None:
    with pytest.raises(InvalidInput), world.domain.transaction() as session:
        issue_login_code(session, get_user(session, "wang"), HOST_ADMIN.actor, minutes=0)


def test_console_login_with_a_code_once_and_wrong_codes_audited(world: World) -> None:
    client = _client(world)
    code = _issue(world)
    wrong = client.post("/login", data={"name": "wang", "code": "AAAA-AAAA-AAAA"})
    assert wrong.status_code == 401 and 'id="bad-code"' in wrong.text
    assert "一次性验证码错误" in wrong.text and 'value="wang"' in wrong.text
    good = client.post("/login", data={"name": "wang", "code": code})
    assert good.status_code == 303 and good.headers["location"] == "/console/review"
    assert "max-age=86400" in good.headers["set-cookie"].lower()
    assert client.get("/console/review").status_code == 200
    again = _client(world).post("/login", data={"name": "wang", "code": code})
    assert again.status_code == 401
    refusals = _refusals(world)
    assert len(refusals) == 2 and all(r.actor == "anonymous" for r in refusals)
    assert not any(code in str(r.details) for r in refusals)


def test_an_admin_issues_a_code_shown_once(world: World) -> None:
    client = _client(world)
    with world.domain.transaction() as session:
        root = add_user(session, "root", "admin", None, AUTHORITY)
        token = create_token(session, root, AUTHORITY)
    csrf = login(client, token)
    asked = {"csrf": csrf, "action": "login_code", "name": "zhao"}
    made = client.post("/console/admin", data=asked)
    shown = re.search(r'id="new-code">.*?<pre>([0-9A-Z-]+)</pre>', made.text, re.S)
    assert made.status_code == 200 and shown, made.text[:500]
    assert shown.group(1) not in client.get("/console/admin").text
    fresh = _client(world)
    assert fresh.post("/login", data={"name": "zhao", "code": shown.group(1)}).status_code == 303
    with world.domain.transaction() as session:
        issued = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "user.login_code_issued")
        ).one()
    assert issued.actor == "root" and shown.group(1) not in str(issued.details)


def test_the_cli_issues_a_code(world: World) -> None:
    from service.cli import app

    result = CliRunner().invoke(app, ["users", "one-time-code", "zhao", "--minutes", "5", "--json"])
    assert result.exit_code == 0, result.output
    issued = json.loads(result.stdout)
    assert issued["user"] == "zhao" and issued["minutes"] == 5
    with world.domain.transaction() as session:
        assert check_login_code(session, "zhao", issued["code"]).name == "zhao"
