"""Console passwords: Argon2id at rest, one answer for every failure, login in the console."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from audit_log.records import AuditEntry
from core.errors import InvalidInput, PermissionDenied
from operators.accounts import HOST_ADMIN, get_user
from operators.passwords import check_password, set_password
from service.web.i18n import translator
from service.web.wording import Worded, error_words
from tests.conftest import World, run_cli

PASSWORD = "河姆渡 tidal sluice 1973"


def test_a_password_is_stored_as_an_argon2id_hash_only(world: World) -> None:
    with world.domain.transaction() as session:
        user = get_user(session, "wang")
        set_password(session, user, PASSWORD, HOST_ADMIN.actor)
        assert user.password_hash and user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        assert check_password(session, "wang", PASSWORD).name == "wang"
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "user.password_set")
        )
        assert PASSWORD not in str([e.details for e in entries])


def test_wrong_password_and_unknown_name_get_the_same_answer(world: World) -> None:
    with world.domain.transaction() as session:
        set_password(session, get_user(session, "wang"), PASSWORD, HOST_ADMIN.actor)
    answers = []
    for name, password in (("wang", PASSWORD + "x"), ("nobody", PASSWORD), ("li", PASSWORD)):
        with pytest.raises(PermissionDenied) as refused, world.domain.transaction() as session:
            check_password(session, name, password)
        answers.append(str(refused.value))
    assert len(set(answers)) == 1  # nothing tells which names exist or have passwords


def test_weak_passwords_are_refused_and_nothing_changes(world: World) -> None:
    for weak in ("short", "wang-is-my-name-123"):
        with pytest.raises(InvalidInput), world.domain.transaction() as session:
            set_password(session, get_user(session, "wang"), weak, HOST_ADMIN.actor)
    with world.domain.transaction() as session:
        assert get_user(session, "wang").password_hash is None


def test_a_short_password_is_refused_in_chinese_with_its_next_step(world: World) -> None:
    """The sentence and the advice are the code's own, so the console leaves no English."""
    with pytest.raises(InvalidInput) as short, world.domain.transaction() as session:
        set_password(session, get_user(session, "wang"), "short", HOST_ADMIN.actor)
    assert str(short.value) == (
        "a password needs at least 12 characters; use a passphrase of several words"
    )
    assert error_words(short.value, translator("zh-CN")) == Worded(
        "输入有误：密码至少需要 12 个字符", "请使用由几个词组成的口令"
    )


def test_console_login_by_name_and_password(world: World) -> None:
    from fastapi.testclient import TestClient

    from service.api import create_app

    client = TestClient(create_app(world.domain.settings), follow_redirects=False)
    with world.domain.transaction() as session:
        set_password(session, get_user(session, "wang"), PASSWORD, HOST_ADMIN.actor)
    wrong = client.post("/login", data={"name": "wang", "password": "not it at all"})
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
    assert 'value="wang"' in wrong.text  # the name stays in the form
    good = client.post("/login", data={"name": "wang", "password": PASSWORD})
    assert good.status_code == 303 and good.headers["location"] == "/console/review"
    cookie = good.headers["set-cookie"].lower()
    assert "httponly" in cookie and "max-age=86400" in cookie
    assert client.get("/console/review").status_code == 200


@pytest.mark.slow
def test_the_cli_sets_a_password_from_the_environment(world: World, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_NEW_PASSWORD", PASSWORD)
    home = world.domain.settings.domain_home.root
    result = run_cli("users", "password", "zhao", "--json", home=home)
    assert result.returncode == 0, result.stderr
    with world.domain.transaction() as session:
        assert check_password(session, "zhao", PASSWORD).name == "zhao"
