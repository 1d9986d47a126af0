"""Logging in (token, password or one-time code), logging out, switching the language."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from audit_log import Actor
from core.errors import PermissionDenied
from operators.accounts import Principal, authenticate, create_token
from operators.lockout import guarded_login
from operators.login_codes import check_login_code
from operators.passwords import check_password
from service.web.i18n import LANGUAGES
from service.web.session import (
    HOME_OF,
    LANG_COOKIE,
    TOKEN_COOKIE,
    FormDep,
    domain_of,
    need,
    render,
    viewer,
)

router = APIRouter()
COOKIE_DAYS = 30
SESSION_DAYS = 1  # a password login's token lasts a working day


def safe_next(target: str | None, fallback: str) -> str:
    """Only a path on this server (never `//host` or a full URL) may be a redirect target."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return fallback


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/market", status_code=303)


@router.get("/login")
def login_page(request: Request, next: str = "") -> Any:
    return render(request, "login.html", next=safe_next(next, ""), error=None)


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    code: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form()] = "",
) -> Any:
    """Log in with a token, or with a name and a password or one-time code (either of
    which issues a one-day token)."""
    origin = request.headers.get("origin")
    if origin and origin.split("://", 1)[-1] != request.headers.get("host"):
        raise PermissionDenied.coded("login_elsewhere")
    domain = domain_of(request)
    by_code = bool(code.strip())
    by_name = bool(name.strip())

    def by_secret(s: Session) -> tuple[str, Principal]:
        """A one-day token for the name and its password or code, and who it is."""
        if by_code:
            user = check_login_code(s, name.strip(), code)
        else:
            user = check_password(s, name.strip(), password)
        issued = create_token(s, user, Actor(user.name, user.role), days=SESSION_DAYS)
        return issued, Principal.of(authenticate(s, issued))

    try:
        if by_name:
            lockout = domain.settings.login_lockout()
            token, who = guarded_login(domain.transaction, name.strip(), by_secret, lockout)
        else:
            with domain.transaction() as s:
                who = Principal.of(authenticate(s, token.strip()))
    except PermissionDenied as refused:
        # on the record like any refused request (the token, password or code never is)
        domain.record_refusal(Actor("anonymous", "public"), "POST /login", refused)
        error = ("bad_code" if by_code else "bad_password") if by_name else "bad_token"
        if refused.message_code == "login_locked":
            error = "locked"
        return render(
            request, "login.html", status=401, next=next, error=error, name=name, problem=refused
        )
    response = RedirectResponse(safe_next(next, HOME_OF.get(who.role, "/market")), 303)
    response.set_cookie(
        TOKEN_COOKIE,
        token.strip(),
        max_age=(SESSION_DAYS if by_name else COOKIE_DAYS) * 86400,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout(_form: FormDep) -> RedirectResponse:
    response = RedirectResponse("/market", status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path="/")
    return response


@router.get("/lang/{code}")
def switch_language(request: Request, code: str, next: str = "/market") -> RedirectResponse:
    response = RedirectResponse(safe_next(next, "/market"), status_code=303)
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="lax", path="/")
    return response


@router.get("/console")
def console_home(request: Request) -> RedirectResponse:
    who = viewer(request) or need()(request)
    return RedirectResponse(HOME_OF.get(who.role, "/market"), status_code=303)
