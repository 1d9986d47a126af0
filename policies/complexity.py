"""The policy engine's budget: how big, how deeply nested and how slow a query may be.

Text size and nesting are measured on the token stream (linear, no recursion) before
anything parses the query; parsing, the node count and the analysis then run in a
forked child process that is killed when its time is up, so no query can hold a
server thread, a lock or the interpreter's stack for longer than the budget says.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import sqlglot
from sqlglot.errors import TokenError
from sqlglot.tokens import TokenType

from catalog.schema import DatasetSchema
from core.errors import QueryTooComplex, SluiceError
from core.processes import cpu_seconds_of
from policies.analysis import DIALECT
from policies.engine import LicenseScope, PolicyDecision, check_query
from policies.reasons import SIMPLIFY, reason

# The budget is CPU time, which is what a hostile query burns; on a loaded host the same
# analysis takes longer by the clock, so the clock only stops a child that is not
# running at all (stopped, or starved) at this many times the budget.
WALL_FACTOR = 10
POLL_SECONDS = 0.02


@dataclass(frozen=True)
class QueryBudget:
    """Limits on one policy analysis; each has a domain setting (docs/hardening.md)."""

    max_chars: int = 100_000  # SLUICE_POLICY_MAX_QUERY_CHARS
    max_nesting: int = 64  # SLUICE_POLICY_MAX_NESTING: parentheses inside parentheses
    max_nodes: int = 50_000  # SLUICE_POLICY_MAX_NODES: syntax-tree nodes
    seconds: float = 2.0  # SLUICE_POLICY_SECONDS: CPU time of the whole analysis


def too_complex(rule: str, **figures: Any) -> QueryTooComplex:
    refusal = reason(rule, **figures)
    return QueryTooComplex(refusal.message, [refusal], suggestion=SIMPLIFY)


def measure(sql: str, budget: QueryBudget) -> None:
    """Refuse text that is too long or too deeply nested, reading only its tokens."""
    if len(sql) > budget.max_chars:
        raise too_complex("query_too_long", chars=len(sql), limit=budget.max_chars)
    try:
        tokens = sqlglot.tokenize(sql, read=DIALECT)
    except TokenError:
        return  # the parser reports malformed text with its position
    depth = deepest = 0
    for token in tokens:
        if token.token_type is TokenType.L_PAREN:
            depth += 1
            deepest = max(deepest, depth)
        elif token.token_type is TokenType.R_PAREN:
            depth -= 1
    if deepest > budget.max_nesting:
        raise too_complex("query_too_deep", depth=deepest, limit=budget.max_nesting)


def count_nodes(sql: str, budget: QueryBudget) -> None:
    """Refuse a parsed query with more syntax-tree nodes than the budget allows."""
    nodes = 0
    for statement in sqlglot.parse(sql, dialect=DIALECT):
        for _ in statement.walk() if statement is not None else ():
            nodes += 1
            if nodes > budget.max_nodes:
                raise too_complex("query_too_many_nodes", limit=budget.max_nodes)


def _analyse(
    sql: str,
    schemas: Mapping[str, DatasetSchema],
    scope: LicenseScope,
    epsilon: float,
    budget: QueryBudget,
) -> PolicyDecision:
    try:
        count_nodes(sql, budget)
        return check_query(sql, schemas, scope, epsilon)
    except RecursionError:
        raise too_complex("query_parser_stack") from None
    except sqlglot.errors.ParseError:
        return check_query(sql, schemas, scope, epsilon)  # worded by the engine's parse


def _child(conn: Connection, args: tuple[Any, ...]) -> None:
    # Everything inherited from the caller is frozen: the child's collections never walk
    # the caller's heap (copying every page of a large server on write, seconds of CPU)
    # and never run the caller's finalizers (its database connections, its temp files).
    gc.freeze()
    try:
        answer: tuple[str, Any] = ("ok", _analyse(*args))
    except SluiceError as exc:
        answer = ("refused", (type(exc), dict(vars(exc))))
    except Exception as exc:  # an engine bug: the parent reports it, never hangs on it
        answer = ("crashed", f"{type(exc).__name__}: {exc}"[:300])
    try:
        conn.send(answer)
    finally:
        conn.close()


def _cpu_of(pid: int | None) -> float:
    """CPU time a running process has used; 0 if it is gone."""
    try:
        return cpu_seconds_of(pid or 0)
    except (OSError, IndexError):
        return 0.0


def _rebuild(kind: type[SluiceError], state: dict[str, Any]) -> SluiceError:
    error = kind.__new__(kind)
    error.__dict__.update(state)
    Exception.__init__(error, error.message)
    return error


def bounded_check(
    sql: str,
    schemas: Mapping[str, DatasetSchema],
    scope: LicenseScope,
    epsilon: float,
    budget: QueryBudget | None = None,
) -> PolicyDecision:
    """`check_query` within the budget; over it, QueryTooComplex (a 4xx, never a 500).

    Call it with no database transaction open: it may take the whole time budget.
    """
    budget = budget or QueryBudget()
    measure(sql, budget)
    args = (sql, dict(schemas), scope, epsilon, budget)
    if "fork" not in multiprocessing.get_all_start_methods():  # pragma: no cover - not Linux
        return _analyse(*args)
    receiver, sender = multiprocessing.get_context("fork").Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_child, args=(sender, args))
    child.start()
    sender.close()
    try:
        deadline = time.monotonic() + budget.seconds * WALL_FACTOR
        while not receiver.poll(POLL_SECONDS):
            if _cpu_of(child.pid) > budget.seconds or time.monotonic() > deadline:
                raise too_complex("query_too_slow", seconds=budget.seconds)
        kind, value = receiver.recv()
    except EOFError:  # the child died (out of memory, a signal)
        raise too_complex("query_out_of_memory") from None
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()
    if kind == "ok":
        decision: PolicyDecision = value
        return decision
    if kind == "refused":
        raise _rebuild(*value)
    raise RuntimeError(f"the policy engine failed in process {os.getpid()}: {value}")
