"""Administration in the browser: companies, users, passwords and tokens, audited alike."""

from __future__ import annotations

import re

from sqlalchemy import select

from audit_log.records import AuditEntry
from operators.accounts import add_user, authenticate, create_token, get_user
from operators.passwords import check_password
from tests.conftest import AUTHORITY, World
from tests.console.conftest import login


def _admin(world: World) -> str:
    with world.domain.transaction() as session:
        root = add_user(session, "root", "admin", None, AUTHORITY)
        return create_token(session, root, AUTHORITY)


def _post(client, csrf: str, **fields: str):  # type: ignore[no-untyped-def]
    return client.post("/console/admin", data={"csrf": csrf, **fields})


def test_an_admin_manages_companies_users_passwords_and_tokens(client, world: World) -> None:
    csrf = login(client, _admin(world))
    assert "甬城数据运营有限公司" in client.get("/console/admin").text
    assert "已添加单位" in _post(client, csrf, action="add_operator", name="四明数科").text
    added = _post(client, csrf, action="add_user", name="sun", role="operator", operator="四明数科")
    assert added.status_code == 200 and 'id="user-sun"' in added.text
    _post(client, csrf, action="set_password", name="sun", password="东钱湖 morning fog 88")
    made = _post(client, csrf, action="create_token", name="sun", days="7")
    token = re.search(
        r'<div class="card" id="new-token">.*?<pre>(slc_[^<]+)</pre>', made.text, re.S
    )
    assert token, made.text[:300]
    assert token.group(1) not in client.get("/console/admin").text  # shown once only
    with world.domain.transaction() as session:
        assert authenticate(session, token.group(1)).name == "sun"
        assert check_password(session, "sun", "东钱湖 morning fog 88").operator_id is not None
    _post(client, csrf, action="revoke_tokens", name="sun")
    with world.domain.transaction() as session:
        actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "root")))
    assert {"operator.added", "user.added", "user.password_set", "token.created"} <= actions
    assert "token.revoked" in actions


def test_a_refused_change_keeps_the_input_and_changes_nothing(client, world: World) -> None:
    csrf = login(client, _admin(world))
    refused = _post(client, csrf, action="add_user", name="wang", role="reviewer", operator="")
    assert refused.status_code == 409 and 'id="problem"' in refused.text
    assert 'value="wang"' in refused.text  # the form still holds what was typed
    weak = _post(client, csrf, action="set_password", name="wang", password="short")
    assert weak.status_code == 422
    with world.domain.transaction() as session:
        assert get_user(session, "wang").password_hash is None


def test_only_admins_reach_the_admin_page(client, tokens) -> None:
    login(client, tokens["gao"])
    assert client.get("/console/admin").status_code == 403
