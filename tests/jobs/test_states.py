"""The job state machine is written in JobStatus members, and failures show by kind."""

from __future__ import annotations

from typing import cast

import pytest
from sqlalchemy.orm import Session

from audit_log import Actor, AuditAction
from core.errors import Conflict
from core.failures import FailureKind, JobFailure
from jobs.lifecycle import ENTERED, TRANSITIONS, transition
from jobs.records import Job, JobStatus, public_failure

# the strings rows held before the enum: they must not change
STORED_STATUSES = [
    "denied",
    "queued",
    "running",
    "failed",
    "blocked",
    "awaiting_review",
    "released",
    "rejected",
]


def test_the_transition_table_uses_only_job_statuses() -> None:
    for source, targets in TRANSITIONS.items():
        assert type(source) is JobStatus, source
        assert targets and all(type(t) is JobStatus for t in targets), source


def test_every_move_has_its_registered_audit_action() -> None:
    targets = set().union(*TRANSITIONS.values())
    assert set(ENTERED) == targets
    for status, action in ENTERED.items():
        assert type(action) is AuditAction and action.value == f"job.{status.value}"


def test_statuses_keep_the_values_rows_were_stored_with() -> None:
    assert [s.value for s in JobStatus] == STORED_STATUSES


def test_a_move_outside_the_table_is_refused_before_anything_is_written() -> None:
    no_session = cast(Session, None)  # refused before the session is touched
    job = Job(id=7, status=JobStatus.DENIED)
    with pytest.raises(Conflict, match="job 7 is denied and cannot become running"):
        transition(no_session, job, JobStatus.RUNNING, Actor.system())
    with pytest.raises(ValueError):
        transition(no_session, job, cast(JobStatus, "finished"), Actor.system())
    assert job.status is JobStatus.DENIED


HIDDEN = "; a reviewer can see the full message"
# (failure, what the operator sees): engine errors keep only their first words
SHOWN = [
    (JobFailure(FailureKind.LIMIT, "memory_mb"), "limit:memory_mb"),
    (
        JobFailure(FailureKind.RULE, "no_outputs: the notebook wrote nothing to /out"),
        "rule:no_outputs: the notebook wrote nothing to /out",
    ),
    (
        JobFailure(FailureKind.LICENSE, "license 3 is suspended; ask the data authority"),
        "license 3 is suspended; ask the data authority",
    ),
    (
        JobFailure(
            FailureKind.ERROR, "sluice-runtime: query failed: Conversion Error: '13800138000'"
        ),
        "error: sluice-runtime" + HIDDEN,
    ),
    (JobFailure(FailureKind.ERROR, "x" * 200), "error: " + "x" * 80 + HIDDEN),
]


@pytest.mark.parametrize(("failure", "shown"), SHOWN, ids=[f.kind for f, _ in SHOWN])
def test_public_failure_by_kind(failure: JobFailure, shown: str) -> None:
    assert public_failure(failure) == shown
    assert public_failure(str(failure)) == shown  # a row read as plain text: the same


def test_public_failure_covers_every_kind() -> None:
    assert {f.kind for f, _ in SHOWN} == set(FailureKind)


def test_public_failure_of_rows_from_before_the_type() -> None:
    assert public_failure(None) is None
    bare = "the sandbox produced no result"
    assert public_failure(bare) == f"error: {bare}{HIDDEN}"
    assert public_failure("error:  spark: boom: 42") == "error: spark" + HIDDEN
    cast_error = "error: Conversion Error: Could not convert string '13800138000' to INT32"
    assert public_failure(cast_error) == "error: Conversion Error" + HIDDEN
