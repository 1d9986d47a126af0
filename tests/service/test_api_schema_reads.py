"""Schemathesis over every read route (GET) of the app's OpenAPI document, in process
and authenticated with a token of the role each route is for: no 5xx, only documented
status codes and content types, every body matching its schema, every error a problem.

Unlike tests/service/test_api_schema.py (which runs submitted jobs in a sandbox), this
needs no sandbox: the domain holds data, licences and users, and no job runs.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from operators.accounts import add_user, create_token, get_user
from service.problems import MEDIA_TYPE
from tests.conftest import AUTHORITY, World

pytestmark = pytest.mark.slow  # a few hundred generated requests (about half a minute)

MAX_EXAMPLES = 8
ROLE_OF = [
    (re.compile(r"^/api/v1/(audit|filings)"), "chen"),
    (re.compile(r"^/api/v1/review"), "wang"),
]


def problems_for_errors(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx and 5xx is RFC 9457 problem details with its members."""
    if response.status_code >= 400:
        assert response.headers["content-type"][0].split(";")[0] == MEDIA_TYPE, response.headers
        body = response.json()
        assert {"type", "title", "status", "detail", "instance"} <= set(body), body
        assert body["status"] == response.status_code
    return None


def test_read_routes_conform_to_the_document(world: World) -> None:
    from service.api import create_app

    with world.domain.transaction() as session:
        add_user(session, "gao", "authority", None, AUTHORITY)
        tokens = {
            n: create_token(session, get_user(session, n), AUTHORITY)
            for n in ("li", "wang", "chen", "gao")
        }
    app = create_app(world.domain.settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    reads = schema.include(method="GET").exclude(path_regex=r"/events$")
    operations = [result.ok() for result in reads.get_all_operations()]
    assert len(operations) >= 20, [o.label for o in operations]
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        problems_for_errors,
    ]
    for operation in operations:
        user = next((u for pattern, u in ROLE_OF if pattern.search(operation.path)), "li")
        try:
            exercise(operation, {"Authorization": f"Bearer {tokens[user]}"}, checks)
        except Exception as error:
            raise AssertionError(f"{operation.label}: {error}") from error


def exercise(operation: Any, headers: dict[str, str], checks: list[Any]) -> None:
    @given(case=operation.as_strategy(), real=st.booleans())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def call(case: Any, real: bool) -> None:
        if real:  # name records that exist, so generated requests reach the domain
            for key in case.path_parameters or {}:
                case.path_parameters[key] = "enterprise_utilities" if key == "name" else 1
        response = case.call(headers=headers)
        case.validate_response(response, checks=checks)

    call()
