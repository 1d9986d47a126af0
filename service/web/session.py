"""Who is using the console and in which language: the token cookie, CSRF tokens, rendering.

The bearer token lives in an HttpOnly, SameSite=Strict cookie, so page scripts
cannot read it and other sites cannot send it. Every form carries a CSRF token,
an HMAC of the cookie under a key derived from a domain secret, checked before
any change.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from core.errors import PermissionDenied
from operators.accounts import Principal, authenticate
from service.domain import Domain
from service.web.formatting import (
    mark_data,
    official_notice,
    rule_label,
    show_cell,
    show_number,
    show_time,
)
from service.web.i18n import LANGUAGES, chosen, translator
from service.web.notifications import notices_for
from service.web.wording import (
    Worded,
    check_words,
    error_label,
    error_words,
    failure_words,
    figure_label,
    figures_text,
    finding_words,
    note_words,
    reason_words,
)

TOKEN_COOKIE = "sluice_token"
LANG_COOKIE = "sluice_lang"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
HOME_OF = {
    "operator": "/console/jobs",
    "reviewer": "/console/review",
    "authority": "/console/licenses",
    "regulator": "/console/audit",
    "admin": "/console/admin",
}


class LoginRequired(Exception):
    """No valid token cookie: the console sends the browser to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@cache
def _csrf_key(pseudonym_key_path: str) -> bytes:
    """A key for CSRF tokens, derived from a domain secret so every worker agrees."""
    secret = Path(pseudonym_key_path).read_bytes()
    return hmac.new(secret, b"sluice-console-csrf", hashlib.sha256).digest()


def csrf_for(request: Request, token: str) -> str:
    key = _csrf_key(str(domain_of(request).home.pseudonym_key_path))
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def domain_of(request: Request) -> Domain:
    domain: Domain = request.app.state.domain
    return domain


def viewer(request: Request) -> Principal | None:
    """The logged-in user, or None; an expired or revoked token counts as logged out."""
    if hasattr(request.state, "viewer"):
        found: Principal | None = request.state.viewer
        return found
    token = request.cookies.get(TOKEN_COOKIE)
    who = None
    if token:
        try:
            with domain_of(request).transaction() as s:
                who = Principal.of(authenticate(s, token))
        except PermissionDenied:
            who = None
    request.state.viewer = who
    if who is not None:
        request.state.principal = who  # so refusals are recorded under the user's name
    return who


def need(*roles: str) -> Callable[..., Principal]:
    """A page dependency: these roles (and admin) only; others get a 403 page."""

    def check(request: Request) -> Principal:
        who = viewer(request)
        if who is None:
            raise LoginRequired(request.url.path)
        if who.role not in roles and who.role != "admin":
            needed = " or ".join(roles)
            raise PermissionDenied.coded("page_role", roles=needed, role=str(who.role))
        return who

    return check


async def checked_form(request: Request) -> dict[str, Any]:
    """The posted form, after its CSRF token is checked against the cookie."""
    form = await request.form()
    token = request.cookies.get(TOKEN_COOKIE, "")
    sent = str(form.get("csrf", ""))
    if not token or not hmac.compare_digest(sent, csrf_for(request, token)):
        raise PermissionDenied.coded("form_stale")
    return {k: v for k, v in form.multi_items()}


FormDep = Annotated[dict[str, Any], Depends(checked_form)]


def language(request: Request) -> str:
    return chosen(request.cookies.get(LANG_COOKIE))


def _marked(worded: Worded, said: Any) -> Worded:
    """What the domain said, worded, with its figures marked as data and its quoted code
    set as code (formatting.mark_data); `said` is the reason, finding or error."""
    found = said.to_dict() if hasattr(said, "to_dict") else said
    figures = getattr(said, "figures", None) or (found or {}).get("figures")
    suggestion = worded.suggestion and mark_data(worded.suggestion, figures)
    return Worded(mark_data(worded.message, figures), suggestion)


def _names_in(value: Any) -> dict[str, str]:
    """The strings a gate record holds (file names, sources), which its figures show as
    data; an output's kind is worded instead."""
    if isinstance(value, str):
        return {value: value}
    if isinstance(value, dict):
        inner = (v for k, v in value.items() if k != "kind")
        return {n: n for v in inner for n in _names_in(v)}
    if isinstance(value, list):
        return {n: n for v in value for n in _names_in(v)}
    return {}


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    who = viewer(request)
    token = request.cookies.get(TOKEN_COOKIE)
    base = {
        "t": translator(lang),
        "lang": lang,
        "languages": LANGUAGES,
        "user": who,
        "csrf": csrf_for(request, token) if token and who else "",
        "path": request.url.path,
        "here": quote(str(request.url.path)),
        "when": lambda value, seconds=False: show_time(value, lang, seconds=seconds),
        "num": show_number,
        "cell": lambda value: show_cell(value, lang),
        "rule": lambda code: mark_data(rule_label(code, translator(lang)), None),
        "reason": lambda found: _marked(reason_words(found, translator(lang)), found),
        "finding": lambda found: _marked(finding_words(found, translator(lang)), found),
        "failure": lambda text: mark_data(failure_words(text, translator(lang)), None),
        "check": lambda found: mark_data(
            check_words(found, translator(lang)), found.get("figures")
        ),
        "note": lambda text, coded=None: mark_data(note_words(text, coded, translator(lang)), None),
        "refusal": lambda error: _marked(error_words(error, translator(lang)), error),
        "error_kind": lambda code: error_label(str(code), translator(lang)),
        "figure": lambda name: figure_label(name, translator(lang)),
        "figures": lambda value: mark_data(
            figures_text(value, translator(lang), lambda v: show_cell(v, lang)),
            _names_in(value),
        ),
    }
    if who is not None:
        with domain_of(request).transaction() as session:
            base["notices"] = notices_for(session, who)
    if "notice" in context:
        context["notice"] = official_notice(context["notice"], base["t"])
    return TEMPLATES.TemplateResponse(request, template, {**base, **context}, status_code=status)
