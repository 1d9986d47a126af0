"""The policy engine's budget (issue 15): size and nesting are refused from the tokens,
and an analysis that would take too long is stopped; neither becomes a crash."""

from __future__ import annotations

import gc
import multiprocessing
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catalog.schema import DatasetSchema, load_schema
from core.errors import InvalidInput, QueryTooComplex
from core.levels import Level
from policies.analysis import parse
from policies.complexity import QueryBudget, bounded_check, measure
from policies.engine import LicenseScope, check_query
from tests.processes import running

DEMO = Path(__file__).parents[2] / "catalog" / "demo"
PLAIN = "SELECT district, COUNT(*) AS n FROM enterprise_utilities GROUP BY district"


def doubling_query(levels: int) -> str:
    """Nested `CONCAT(x, x)` subqueries: each level doubles what the analysis follows."""
    sql = "SELECT district AS x FROM enterprise_utilities"
    for level in range(levels):
        sql = f"SELECT CONCAT(x, x) AS x FROM ({sql}) AS t{level}"
    return sql


def parentheses(depth: int) -> str:
    return "SELECT " + "(" * depth + "1" + ")" * depth + " AS x FROM enterprise_utilities"


@pytest.fixture(scope="module")
def schemas() -> dict[str, DatasetSchema]:
    found = load_schema(DEMO / "enterprise_utilities.yaml")
    return {found.dataset: found}


@pytest.fixture(scope="module")
def scope(schemas: dict[str, DatasetSchema]) -> LicenseScope:
    return LicenseScope(tuple(schemas), Level.L3)


def test_the_issues_doubling_query_is_refused_within_its_time(schemas, scope) -> None:
    """The 738-character query took 43 s in the issue; the budget stops it at 2 s."""
    sql = doubling_query(18)
    assert len(sql) == 738
    before = set(multiprocessing.active_children())
    with pytest.raises(QueryTooComplex) as refused:
        bounded_check(sql, schemas, scope, 1.0, QueryBudget(seconds=2.0))
    assert refused.value.code == "query_too_complex" and refused.value.http_status == 422
    assert "ran out of time" in refused.value.message
    assert refused.value.reasons[0].rule == "query_too_slow"
    assert "simplify" in (refused.value.suggestion or "")
    left = set(multiprocessing.active_children())
    assert left <= before and len(left) < len(before) + 1  # the analysis was stopped, not left
    assert bounded_check(PLAIN, schemas, scope, 1.0).decision  # the next one is answered


def _children() -> set[int]:
    return {child.pid for child in multiprocessing.active_children() if child.pid}


def test_an_analysis_that_answered_in_time_leaves_its_child_for_the_next(schemas, scope) -> None:
    """Forking a large host for every query cost ten times the analysis itself."""
    first = bounded_check(PLAIN, schemas, scope, 1.0)
    waiting = _children()
    assert waiting  # the child that answered waits for the next query
    other = "SELECT district, AVG(water_fee) AS f FROM enterprise_utilities GROUP BY district"
    second = bounded_check(other, schemas, scope, 1.0)
    assert _children() == waiting  # answered by a child already there: no new fork
    assert first.sql == check_query(PLAIN, schemas, scope, 1.0).sql
    assert second.sql == check_query(other, schemas, scope, 1.0).sql


def test_a_waiting_child_killed_from_outside_is_replaced(schemas, scope) -> None:
    bounded_check(PLAIN, schemas, scope, 1.0)
    for pid in _children():
        os.kill(pid, signal.SIGKILL)
    assert (
        bounded_check(PLAIN, schemas, scope, 1.0).sql == check_query(PLAIN, schemas, scope, 1.0).sql
    )


def test_a_child_whose_parent_died_ends_by_itself(tmp_path: Path) -> None:
    """A server killed outright must not leave analysis children waiting forever."""
    script = f"""
import multiprocessing, os, sys
sys.path.insert(0, {str(Path(__file__).parents[2])!r})
from pathlib import Path
from catalog.schema import load_schema
from core.levels import Level
from policies.complexity import bounded_check
from policies.engine import LicenseScope
found = load_schema(Path({str(DEMO / "enterprise_utilities.yaml")!r}))
bounded_check({PLAIN!r}, {{found.dataset: found}}, LicenseScope((found.dataset,), Level.L3), 1.0)
print(" ".join(str(c.pid) for c in multiprocessing.active_children()), flush=True)
os._exit(0)  # no atexit: the children are not told
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    orphans = [int(pid) for pid in proc.stdout.split()]
    assert orphans
    deadline = time.monotonic() + 60  # the child looks for its parent once a second
    while any(running(pid) for pid in orphans) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(running(pid) for pid in orphans)


def test_three_thousand_parentheses_are_refused_before_parsing(schemas, scope) -> None:
    with pytest.raises(QueryTooComplex, match="3000 levels of parentheses"):
        bounded_check(parentheses(3000), schemas, scope, 1.0)


def test_the_parser_running_out_of_stack_is_a_refusal_not_a_crash() -> None:
    """Even without the budget's token count in front, RecursionError never escapes."""
    with pytest.raises(QueryTooComplex, match="nested too deeply"):
        parse(parentheses(3000))


@pytest.mark.parametrize(
    ("sql", "budget", "figure"),
    [
        (
            "SELECT 1 AS x FROM enterprise_utilities " + " " * 200,
            QueryBudget(max_chars=100),
            "> 100",
        ),
        (parentheses(11), QueryBudget(max_nesting=10), "11 levels"),
    ],
    ids=["too long", "too deep"],
)
def test_size_and_nesting_are_measured_on_the_text(sql: str, budget, figure: str) -> None:
    with pytest.raises(QueryTooComplex, match=figure):
        measure(sql, budget)


def test_too_many_nodes_are_refused(schemas, scope) -> None:
    wide = "SELECT " + " + ".join(["1"] * 400) + " AS x FROM enterprise_utilities"
    with pytest.raises(QueryTooComplex, match="over 500 nodes"):
        bounded_check(wide, schemas, scope, 1.0, QueryBudget(max_nodes=500))


def test_within_the_budget_the_decision_is_the_engines(schemas, scope) -> None:
    """The child process returns the same decision the engine makes in process."""
    bounded = bounded_check(PLAIN, schemas, scope, 1.0)
    direct = check_query(PLAIN, schemas, scope, 1.0)
    assert bounded.to_dict() == direct.to_dict()
    assert bounded.tree is not None and bounded.tree == direct.tree


def test_errors_from_the_analysis_keep_their_type_and_words(schemas, scope) -> None:
    with pytest.raises(InvalidInput, match="malformed SQL") as refused:
        bounded_check("SELEC x FRM", schemas, scope, 1.0)
    assert type(refused.value) is InvalidInput
    denied = bounded_check(
        "SELECT district, SUM(employees) AS __n FROM enterprise_utilities GROUP BY district",
        schemas,
        scope,
        1.0,
    )
    assert "reserved_name" in {r.rule for r in denied.reasons}


class _Finalised:
    """Garbage in a reference cycle whose finalizer says which process ran it."""

    def __init__(self, marks: Path) -> None:
        self.marks = marks
        self.cycle = self

    def __del__(self) -> None:
        with open(self.marks, "a") as out:
            out.write(f"{os.getpid()}\n")


def test_the_analysis_never_runs_the_callers_finalizers(schemas, scope, tmp_path) -> None:
    """A forked analysis that collected the caller's garbage would close the caller's
    database connections and remove its files from the child, and in a large server
    walk (and copy) its whole heap on the child's CPU budget."""
    marks = tmp_path / "finalised-by"
    for child in multiprocessing.active_children():  # a waiting child predates the garbage
        child.kill()
        child.join()
    # Before the fork the caller only tokenizes the query (about one object per term);
    # the child builds its tree (several per term): only the child reaches the threshold.
    wide = "SELECT " + " + ".join(["employees"] * 300) + " AS x FROM enterprise_utilities"
    thresholds = gc.get_threshold()
    gc.collect()
    gc.set_threshold(3000, 10, 10)
    try:
        _Finalised(marks)  # unreachable at once, reclaimable only by a collection
        bounded_check(wide, schemas, scope, 1.0)
    finally:
        gc.set_threshold(*thresholds)
    gc.collect()
    assert marks.read_text().split() == [str(os.getpid())]


def test_a_kept_child_decides_each_licence_by_its_own_scope(schemas, scope) -> None:
    """A child that analysed a query for one licence must not carry that licence's
    reach into the next: the same query under a public-only licence is refused."""
    sensitive = "SELECT district, AVG(water_fee) AS f FROM enterprise_utilities GROUP BY district"
    public_only = LicenseScope(tuple(schemas), Level.L1)
    allowed = bounded_check(sensitive, schemas, scope, 1.0)
    waiting = _children()
    assert allowed.sql == check_query(sensitive, schemas, scope, 1.0).sql
    try:
        expected = check_query(sensitive, schemas, public_only, 1.0).decision
    except InvalidInput as refusal:
        with pytest.raises(type(refusal)):
            bounded_check(sensitive, schemas, public_only, 1.0)
    else:
        assert bounded_check(sensitive, schemas, public_only, 1.0).decision == expected
        assert expected != allowed.decision
    assert _children() == waiting  # the same child answered both


def test_a_kept_child_holds_none_of_the_callers_descriptors(schemas, scope) -> None:
    """A child forked while the caller held a pipe's write end must not keep it: the
    reader (a browser driver, a command's captured output) would never see the end
    of the file, and wait for it for as long as the child waits for queries."""
    for child in multiprocessing.active_children():  # the child must fork after the pipe
        child.kill()
        child.join()
    read_end, write_end = os.pipe()
    try:
        bounded_check(PLAIN, schemas, scope, 1.0)
        waiting = _children()
        assert waiting  # the child that answered stays, forked while write_end was open
        os.close(write_end)
        ready, _, _ = select.select([read_end], [], [], 5)
        assert ready and os.read(read_end, 1) == b""  # the end of the file: no holder left
        for pid in waiting:
            assert {os.readlink(f"/proc/{pid}/fd/{n}") for n in (0, 1, 2)} == {os.devnull}
        assert bounded_check(PLAIN, schemas, scope, 1.0).decision  # and it still answers
        assert _children() == waiting
    finally:
        os.close(read_end)
