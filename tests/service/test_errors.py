"""Domain errors at the edges: each class's HTTP status and exit code, and hints that each
front end words its own way (the API never names a CLI command or flag)."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.errors import (
    BudgetExhausted,
    Conflict,
    InvalidInput,
    LicenseInvalid,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    PolicyDenied,
    QueryTooComplex,
    RateLimited,
    SchemaInvalid,
    SluiceError,
    Step,
)
from core.messages import HINTS, MESSAGES
from operators.accounts import create_token, get_user
from service.output import COMMANDS, one_line
from service.problems import error_body
from tests.conftest import AUTHORITY, World, run_cli

STATUS_AND_EXIT = [
    (SluiceError, 400, 1),
    (InvalidInput, 422, 2),
    (SchemaInvalid, 422, 2),
    (QueryTooComplex, 422, 2),
    (NotFound, 404, 3),
    (Conflict, 409, 4),
    (PermissionDenied, 403, 5),
    (LicenseInvalid, 403, 6),
    (PolicyDenied, 403, 7),
    (BudgetExhausted, 402, 8),
    (LimitExceeded, 400, 9),
    (RateLimited, 429, 9),
]


@pytest.mark.parametrize(
    ("kind", "status", "code"), STATUS_AND_EXIT, ids=[k.__name__ for k, _, _ in STATUS_AND_EXIT]
)
def test_each_error_carries_its_status_and_exit_code(
    kind: type[SluiceError], status: int, code: int
) -> None:
    error = kind("x")
    assert (error.http_status, error.exit_code) == (status, code)


def test_every_error_class_is_in_the_table() -> None:
    def subclasses(kind: type[SluiceError]) -> set[type[SluiceError]]:
        found = set(kind.__subclasses__())
        return found.union(*(subclasses(k) for k in found)) if found else found

    assert subclasses(SluiceError) | {SluiceError} == {k for k, _, _ in STATUS_AND_EXIT}


# --- hints: the domain says what to do; each front end words it ---------------------

ROOT = Path(__file__).parents[2]
DOMAIN = ["core", "audit_log", "catalog", "operators", "policies", "gate", "sandbox", "jobs"]
DOMAIN += ["products"]
ERRORS = {k.__name__ for k, _, _ in STATUS_AND_EXIT} | {"Reason", "Wording"}
CLI_WORDS = ("sluice ", "--")


def _raised_texts() -> list[tuple[str, str]]:
    """(where, text) for every string literal inside a domain error or Reason constructor."""
    found = []
    for package in DOMAIN:
        for path in (ROOT / package).rglob("*.py"):
            if "runtime" in path.parts:  # the in-sandbox runtime speaks to notebooks, not people
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name == "coded" and node.args:  # its sentence and hint live in core.messages
                    code = node.args[0].value  # type: ignore[attr-defined]
                    for text in (MESSAGES[code], HINTS.get(code, "")):
                        found.append((f"{path.relative_to(ROOT)}:{node.lineno}", text))
                elif name in ERRORS:
                    for part in ast.walk(node):
                        if isinstance(part, ast.Constant) and isinstance(part.value, str):
                            found.append((f"{path.relative_to(ROOT)}:{node.lineno}", part.value))
    return found


def test_domain_messages_name_no_command_or_flag() -> None:
    texts = _raised_texts()
    assert len(texts) > 100  # the scan does see the domain's errors
    assert [(where, t) for where, t in texts if any(w in t for w in CLI_WORDS)] == []


@pytest.mark.parametrize("step", list(Step), ids=[s.value for s in Step])
def test_every_step_is_worded_by_the_cli_and_never_as_a_command_by_the_api(step: Step) -> None:
    error = NotFound("no such thing", suggestion="do the domain thing", step=step)
    assert step in COMMANDS
    assert one_line(error).startswith("no such thing; ") and "{" not in one_line(error)
    hint = error_body(error).suggestion
    assert hint and not any(w in hint for w in CLI_WORDS)


def test_an_error_without_a_step_keeps_the_domain_words() -> None:
    error = Conflict("job 3 is released", suggestion="submit a new job")
    assert one_line(error) == "job 3 is released; submit a new job" == str(error)
    assert error_body(error).model_dump() == {
        "type": "urn:sluice:problem:conflict",
        "title": "Conflict",
        "status": 409,
        "detail": "job 3 is released",
        "error": "conflict",
        "suggestion": "submit a new job",
    }


def _api_refusals() -> list[tuple[str, str, dict[str, Any] | None, int, str]]:
    """(method, path, body, status, words the suggestion must hold) per domain refusal."""
    application = {
        "datasets": ["enterprise_utilities"],
        "max_level": "L2",
        "purpose": "p",
        "scenario": "s",
        "valid_until": date.today().isoformat(),
        "epsilon": 1.0,
    }
    return [
        ("GET", "/api/v1/jobs/999", None, 404, "GET /api/v1/jobs"),
        ("GET", "/api/v1/licenses/999", None, 404, "GET /api/v1/licenses"),
        ("POST", "/api/v1/jobs", {"license_id": 999, "sql": "SELECT 1"}, 404, "/licenses"),
        ("GET", "/api/v1/releases/999", None, 404, "release_id"),
        ("GET", "/api/v1/products/999", None, 404, "GET /api/v1/products"),
        ("POST", "/api/v1/licenses", application, 422, "valid_until"),
        ("GET", "/api/v1/audit/proofs/inclusion/1?tree_size=99999", None, 404, "sign"),
    ]


def test_api_refusals_name_routes_and_fields_never_cli_words(world: World) -> None:
    from service.api import create_app

    api = TestClient(create_app(world.domain.settings))
    with world.domain.transaction() as session:
        tokens = {n: create_token(session, get_user(session, n), AUTHORITY) for n in ("li", "chen")}
    for method, path, body, status, words in _api_refusals():
        token = tokens["chen" if "/audit/" in path else "li"]
        response = api.request(
            method, path, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == status, (path, response.text)
        assert words in response.json()["suggestion"], (path, response.json())
        assert not any(w in response.text for w in CLI_WORDS), (path, response.text)


CLI_REFUSALS = [
    (["jobs", "show", "999"], 3, "no job with id 999; see `sluice jobs list`"),
    (["licenses", "show", "999"], 3, "no license with id 999; see `sluice licenses list`"),
    (["releases", "show", "999"], 3, "see `sluice jobs show JOB` for its release"),
    (["audit", "prove", "1", "--size", "99999"], 3, "run `sluice audit checkpoint`"),
    (["users", "add", "ann", "--role", "operator"], 2, "give --operator COMPANY"),
]


@pytest.mark.slow  # runs the CLI in its own processes
def test_the_same_refusals_at_the_cli_name_the_command_to_run(world: World) -> None:
    home = world.domain.settings.home
    for args, code, words in CLI_REFUSALS:
        result = run_cli(*args, home=home)
        lines = [line for line in result.stderr.splitlines() if line.startswith("sluice: ")]
        assert result.returncode == code, (args, result.stderr)
        assert len(lines) == 1 and words in lines[0], (args, result.stderr)
