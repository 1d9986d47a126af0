"""Neither the console nor the API verifies the whole log inside a request: pages and
GET /api/v1/audit/verify read the signed head and the last background check; a full
verification only runs in its own thread."""

from __future__ import annotations

import ast
from pathlib import Path

from fastapi.routing import APIRoute
from sqlalchemy import func, select

from audit_log.records import AuditEntry
from service.verifications import full_check
from service.web.pages import (
    account,
    admin,
    authority,
    catalog,
    market,
    operator,
    products,
    regulator,
    results,
    review,
)
from tests.conftest import World
from tests.console.conftest import login

SERVICE = Path(__file__).parents[2] / "service"
# what answers requests: the console, the API, and what both call (not the CLI or demo)
SERVING = (SERVICE / "web", SERVICE / "routes", SERVICE / "verifications.py")
PAGE_MODULES = (account, admin, authority, catalog, market, operator, products, regulator)
PAGE_MODULES += (results, review)
FULL_VERIFIERS = {"verify_store", "verify_export", "run_checker", "check_span"}


class _Calls(ast.NodeVisitor):
    """Which innermost function calls a full verifier."""

    def __init__(self, module: str) -> None:
        self.module, self.stack, self.found = module, ["<module>"], set[str]()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call) -> None:
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name in FULL_VERIFIERS:
            self.found.add(f"{self.module}:{self.stack[-1]}")
        self.generic_visit(node)


def _callers_of_full_verification() -> set[str]:
    """(module: function) of every function serving requests that calls a full verifier."""
    found: set[str] = set()
    paths = [p for place in SERVING for p in ([place] if place.is_file() else place.rglob("*.py"))]
    for path in paths:
        calls = _Calls(str(path.relative_to(SERVICE)))
        calls.visit(ast.parse(path.read_text(encoding="utf-8")))
        found |= calls.found
    return found


def test_only_the_background_thread_calls_full_verification() -> None:
    # `_verify` is the body of the thread start_verification starts; it returns at once
    assert _callers_of_full_verification() == {"verifications.py:_verify"}


def test_no_console_page_verifies_a_tampered_log(client, tokens, world: World) -> None:  # type: ignore[no-untyped-def]
    with world.domain.transaction() as session:  # an insider edits one entry in place
        entry = session.get(AuditEntry, 2)
        entry.details = {**entry.details, "edited": True}
        alerts_before = session.scalar(
            select(func.count()).where(AuditEntry.action == "alert.verification_failed")
        )
    login(client, tokens["chen"])
    pages = [
        route.path
        for module in PAGE_MODULES
        for route in module.router.routes
        if isinstance(route, APIRoute)
        and route.path.startswith("/console")
        and "GET" in route.methods
        and "{" not in route.path
    ]
    assert "/console/audit" in pages
    for path in pages:
        response = client.get(path)
        assert response.status_code < 500, path
    assert full_check(world.domain).state == "never"  # no page started a full check
    with world.domain.transaction() as session:
        alerts_after = session.scalar(
            select(func.count()).where(AuditEntry.action == "alert.verification_failed")
        )
    assert alerts_after == alerts_before  # and none ran one and recorded its failure
