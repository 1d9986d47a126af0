"""The policy engine's budget: how big, how deeply nested and how slow a query may be.

Text size and nesting are measured on the token stream (linear, no recursion) before
anything parses the query; parsing, the node count and the analysis then run in a
forked child process that is killed when its time is up, so no query can hold a
server thread, a lock or the interpreter's stack for longer than the budget says.

A child that answered in time is kept for the next analysis (`_Checker`): forking a
large host process cost about ten times the CPU of analysing a small query. Every
input of the analysis travels with the request; a child that ran out of time, memory
or stack is killed, and one whose parent is gone ends by itself.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
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
IDLE_CHECKERS = 4  # children kept waiting between analyses, per host process
CHECKER_USES = 1_000  # analyses one child answers before a fresh fork replaces it
ORPHAN_POLL_SECONDS = 1.0  # how often an idle child looks whether its parent is alive


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
    kind, value = _checkers.ask(args, budget)
    if kind == "ok":
        decision: PolicyDecision = value
        return decision
    if kind == "refused":
        raise _rebuild(*value)
    raise RuntimeError(f"the policy engine failed in process {os.getpid()}: {value}")


def _answer(args: tuple[Any, ...]) -> tuple[str, Any]:
    try:
        return ("ok", _analyse(*args))
    except SluiceError as exc:
        return ("refused", (type(exc), dict(vars(exc))))
    except Exception as exc:  # an engine bug: the parent reports it, never hangs on it
        return ("crashed", f"{type(exc).__name__}: {exc}"[:300])


def _serve(conn: Connection, parents_end: Connection, parent: int) -> None:
    """The child: answer analyses one at a time until the pipe closes or the parent
    is gone (a killed server must not leave its children waiting forever)."""
    parents_end.close()
    _keep_only(conn.fileno())
    # Everything inherited from the caller is frozen: the child's collections never walk
    # the caller's heap (copying every page of a large server on write, seconds of CPU)
    # and never run the caller's finalizers (its database connections, its temp files).
    gc.freeze()
    try:
        while True:
            while not conn.poll(ORPHAN_POLL_SECONDS):
                if os.getppid() != parent:
                    return
            conn.send(_answer(conn.recv()))
    except (EOFError, OSError):
        return
    finally:
        conn.close()


def _keep_only(needed: int) -> None:
    """Close every descriptor the fork inherited but `needed`, and point stdio at
    /dev/null. A waiting child outlives the caller's moment: holding the write end of
    someone's pipe (a browser driver's, a subprocess's captured output) would keep its
    reader waiting for an end of file that never comes."""
    null = os.open(os.devnull, os.O_RDWR)
    for stdio in (0, 1, 2):
        if stdio != needed:
            os.dup2(null, stdio)
    os.closerange(3, needed)
    os.closerange(max(needed + 1, 3), os.sysconf("SC_OPEN_MAX"))  # /dev/null's own too


class _ChildGone(Exception):
    """The analysis child ended without answering."""


class _Checker:
    """One forked child that analyses queries, reused while it answers in time."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self.conn, childs_end = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(childs_end, self.conn, os.getpid()), daemon=True
        )
        self.process.start()
        childs_end.close()
        self.uses = 0

    def ask(self, args: tuple[Any, ...], budget: QueryBudget) -> tuple[str, Any]:
        """The child's answer; QueryTooComplex when it runs out of time, _ChildGone when
        it died (out of memory, a signal) or was gone before the query reached it."""
        started = _cpu_of(self.process.pid)
        try:
            self.conn.send(args)
            deadline = time.monotonic() + budget.seconds * WALL_FACTOR
            while not self.conn.poll(POLL_SECONDS):
                spent = _cpu_of(self.process.pid) - started
                if spent > budget.seconds or time.monotonic() > deadline:
                    raise too_complex("query_too_slow", seconds=budget.seconds)
            answer: tuple[str, Any] = self.conn.recv()
        except (EOFError, ConnectionError):
            raise _ChildGone from None
        self.uses += 1
        return answer

    def stop(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join()


class _Checkers:
    """Idle children of this process, taken by one analysis at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Checker] = []
        self._owner = os.getpid()

    def ask(self, args: tuple[Any, ...], budget: QueryBudget) -> tuple[str, Any]:
        """A waiting child's answer if it is still there, else a fresh child's: a child
        killed while it waited must not make an innocent query read as too large."""
        waiting = self._take_idle()
        if waiting is not None and (answer := self._answer_of(waiting, args, budget)):
            return answer
        answer = self._answer_of(_Checker(), args, budget)
        if answer is None:  # a fresh child died on this very query
            raise too_complex("query_out_of_memory")
        return answer

    def _answer_of(
        self, checker: _Checker, args: tuple[Any, ...], budget: QueryBudget
    ) -> tuple[str, Any] | None:
        try:
            answer = checker.ask(args, budget)
        except _ChildGone:
            checker.stop()
            return None
        except BaseException:
            checker.stop()
            raise
        self._give_back(checker)
        return answer

    def _take_idle(self) -> _Checker | None:
        with self._lock:
            if self._owner != os.getpid():  # a forked copy of a process: not its children
                self._idle, self._owner = [], os.getpid()
            while self._idle:
                checker = self._idle.pop()
                if checker.process.is_alive():
                    return checker
                checker.stop()
        return None

    def _give_back(self, checker: _Checker) -> None:
        with self._lock:
            if checker.uses < CHECKER_USES and len(self._idle) < IDLE_CHECKERS:
                self._idle.append(checker)
                return
        checker.stop()


_checkers = _Checkers()


def _cpu_of(pid: int | None) -> float:
    """CPU time a running process has used; 0 if it is gone."""
    try:
        return cpu_seconds_of(pid or 0)
    except (OSError, IndexError):
        return 0.0
