"""Every action the code appends is registered, and append refuses any other name."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit_log import RULES, AuditAction, alert_action, append, verify_store
from audit_log.alerts import verification_alert
from gate.registry import RULES as GATE_RULES
from service.domain import Domain
from tests.audit_log.conftest import ACTOR, SIZE
from tests.test_architecture import ORDER

ROOT = Path(__file__).parents[2]
# every package that may append, and the benchmarks
SOURCES = [*ORDER, "bench"]


def _is_append(call: ast.Call) -> bool:
    """`append(...)` or `audit_log.append(...)` with an action argument (not list.append)."""
    func = call.func
    named = isinstance(func, ast.Name) and func.id == "append"
    qualified = (
        isinstance(func, ast.Attribute)
        and func.attr == "append"
        and isinstance(func.value, ast.Name)
        and func.value.id == "audit_log"
    )
    return (named or qualified) and len(call.args) >= 3


def appended_actions() -> Iterator[tuple[str, ast.expr]]:
    """(file:line, action argument) for every call to the log's append in the code base."""
    for package in SOURCES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and _is_append(node):
                    yield f"{path.relative_to(ROOT)}:{node.lineno}", node.args[2]


def _problem(action: ast.expr) -> str | None:
    """Why an action argument is not a registered name, or None."""
    members = {a.name for a in AuditAction}
    if isinstance(action, ast.Constant):
        if isinstance(action.value, str) and action.value in set(AuditAction):
            return None
        return f"{action.value!r} is not registered in audit_log.actions"
    if isinstance(action, ast.JoinedStr):
        return "an f-string action cannot be checked; build it from AuditAction"
    if isinstance(action, ast.Attribute) and ast.unparse(action.value) == "AuditAction":
        return None if action.attr in members else f"AuditAction has no member {action.attr}"
    return None  # computed (a table of members, alert_action): append checks it when run


def test_every_action_appended_in_the_code_base_is_registered() -> None:
    found = list(appended_actions())
    assert len(found) >= 30, "the walk should see every append call"
    problems = [f"{where}: {why}" for where, arg in found if (why := _problem(arg))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "source",
    [
        'append(s, a, "job.submited", "job:1")',
        'append(s, a, f"job.{to}", "job:1")',
        "append(s, a, AuditAction.JOB_SUBMITED, 'job:1')",
        'audit_log.append(s, a, "nope", "x")',
    ],
)
def test_the_walk_flags_unregistered_actions(source: str) -> None:
    call = ast.parse(source).body[0]
    assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
    assert _is_append(call.value) and _problem(call.value.args[2]) is not None


def test_append_refuses_an_unregistered_action(logged: Domain) -> None:
    with pytest.raises(ValueError, match="'job.submited' is not a registered audit action"):
        with logged.transaction() as session:
            append(session, ACTOR, "job.submited", "job:1", {})  # type: ignore[arg-type]
    with logged.transaction() as session:
        result = verify_store(session)
    assert result.ok and result.entries == SIZE


def test_a_registered_action_is_stored_as_its_plain_name(logged: Domain) -> None:
    with logged.transaction() as session:
        entry = append(session, ACTOR, AuditAction.TOKEN_USED, "user:1", {"token_id": 1})
        assert type(entry.action) is str and entry.action == "token.used"
        assert verify_store(session).ok


def test_every_action_says_what_it_records() -> None:
    for action in AuditAction:
        assert action.description.strip(), action
        assert action.value.count(".") == 1, action


def alert_rules_raised() -> list[str]:
    """The rule names `Alert(...)` is built with in audit_log/alerts.py."""
    tree = ast.parse((ROOT / "audit_log" / "alerts.py").read_text(encoding="utf-8"))
    return [
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "Alert"
        and isinstance(node.args[0], ast.Constant)
    ]


def test_alert_names_map_onto_registered_actions() -> None:
    assert all(type(action) is AuditAction for action in RULES)
    raised = alert_rules_raised()
    assert len(raised) >= 6 and verification_alert(None, None, "test").rule in raised
    raised += [rule.alert for rule in GATE_RULES.values() if rule.alert]
    for rule in raised:
        assert alert_action(rule).is_alert and alert_action(rule).value == f"alert.{rule}"
    with pytest.raises(ValueError):
        alert_action("no_such_rule")
