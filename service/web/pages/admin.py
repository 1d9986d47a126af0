"""The administrator's pages: companies, users, passwords, one-time login codes and API
tokens, without the CLI.

Every change goes through the same domain functions as `sluice operators|users|tokens`,
so it is checked and audited the same way; a new token or login code is shown once, on
the page that created it, and never again.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.errors import SluiceError
from operators.accounts import (
    ROLES,
    Principal,
    add_operator,
    add_user,
    create_token,
    get_user,
    revoke_tokens,
)
from operators.directory import list_operators, list_tokens, list_users
from operators.login_codes import CODE_MINUTES, issue_login_code
from operators.passwords import set_password
from operators.records import User
from service.web.session import FormDep, domain_of, need, render

router = APIRouter()
Admin = Annotated[Principal, Depends(need("admin"))]


def _people(session: Session) -> dict[str, Any]:
    now = utcnow().isoformat(timespec="seconds")
    live = [t for t in list_tokens(session) if not t["revoked"] and t["expires_at"] > now]
    with_password = set(session.scalars(select(User.id).where(User.password_hash.is_not(None))))
    users = [
        {
            **u,
            "company": u["operator"],
            "has_password": u["id"] in with_password,
            "tokens": [t for t in live if t["user"] == u["name"]],
        }
        for u in list_users(session)
    ]
    operators = [(o.id, o.name) for o in list_operators(session)]
    return {"operators": operators, "users": users, "roles": ROLES}


def _page(request: Request, status: int = 200, **shown: Any) -> Any:
    with domain_of(request).transaction() as s:
        people = _people(s)
    return render(request, "admin.html", status=status, **people, **shown)


@router.get("/console/admin")
def admin_page(request: Request, _who: Admin) -> Any:
    return _page(request)


@router.post("/console/admin")
def admin_action(request: Request, who: Admin, form: FormDep) -> Any:
    """One form per action; a refusal is shown beside the forms, with the input kept."""
    action = str(form.get("action", ""))
    actor = who.actor
    token = code = None
    try:
        with domain_of(request).transaction() as s:
            if action == "add_operator":
                add_operator(s, str(form.get("name", "")), actor)
                done = "operator added"
            elif action == "add_user":
                company = str(form.get("operator", "")).strip() or None
                add_user(
                    s, str(form.get("name", "")).strip(), str(form.get("role")), company, actor
                )
                done = "user added"
            elif action == "set_password":
                user = get_user(s, str(form.get("name", "")))
                set_password(s, user, str(form.get("password", "")), actor)
                done = "password set"
            elif action == "create_token":
                user = get_user(s, str(form.get("name", "")))
                token = create_token(s, user, actor, int(str(form.get("days", "90")) or 90))
                done = "token created"
            elif action == "login_code":
                code = issue_login_code(s, get_user(s, str(form.get("name", ""))), actor)
                done = "one-time code issued"
            elif action == "revoke_tokens":
                revoke_tokens(s, get_user(s, str(form.get("name", ""))), actor)
                done = "tokens revoked"
            else:
                done = ""
    except SluiceError as error:
        return _page(request, status=error.http_status, problem=error, kept=form)
    except ValueError:
        return _page(request, status=422, problem_text="days must be a whole number", kept=form)
    if not done:
        return _page(request, status=422, problem_text="unknown action")
    if token is not None:  # shown on this page only; never stored or shown again
        return _page(request, created_token=token, created_for=str(form.get("name")))
    if code is not None:  # likewise: only its hash is kept
        shown = {"code": code, "user": str(form.get("name")), "minutes": CODE_MINUTES}
        return _page(request, created_code=shown)
    return _page(request, done=done)
