"""Job failures are typed values that are also their stored text, so old rows still read."""

from __future__ import annotations

import json
import pickle
from enum import StrEnum

import pytest
from sqlalchemy import Integer, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from core.db import EnumText, FailureText
from core.failures import FailureKind, JobFailure

# text as stored before the type existed → the kind and detail it reads as
STORED = [
    ("limit:memory_mb", FailureKind.LIMIT, "memory_mb"),
    (
        "limit:wall_seconds: the query ran longer than 30s",
        FailureKind.LIMIT,
        "wall_seconds: the query ran longer than 30s",
    ),
    ("rule:regular_files_only", FailureKind.RULE, "regular_files_only"),
    (
        "rule:no_outputs: the notebook wrote nothing to /out",
        FailureKind.RULE,
        "no_outputs: the notebook wrote nothing to /out",
    ),
    (
        "error: sluice-runtime: query failed: Binder Error",
        FailureKind.ERROR,
        "sluice-runtime: query failed: Binder Error",
    ),
    (
        "license 3 is revoked; ask the data authority for a new one",
        FailureKind.LICENSE,
        "license 3 is revoked; ask the data authority for a new one",
    ),
    # no prefix at all (the runner once stored this bare): an engine error
    ("the sandbox produced no result", FailureKind.ERROR, "the sandbox produced no result"),
]


@pytest.mark.parametrize(("text", "kind", "detail"), STORED, ids=[k for _, k, _ in STORED])
def test_stored_text_reads_as_its_kind_and_detail(
    text: str, kind: FailureKind, detail: str
) -> None:
    failure = JobFailure.parse(text)
    assert (failure.kind, failure.detail) == (kind, detail)


@pytest.mark.parametrize(
    ("text", "kind", "detail"), STORED[:-1], ids=[k for _, k, _ in STORED[:-1]]
)
def test_a_failure_is_exactly_the_text_stored_before(
    text: str, kind: FailureKind, detail: str
) -> None:
    failure = JobFailure(kind, detail)
    assert failure == text and str(failure) == text and type(str(failure)) is str
    assert JobFailure.parse(failure) is failure
    again = JobFailure.parse(str(failure))
    assert (again.kind, again.detail) == (kind, detail)


def test_a_failure_serializes_as_its_text() -> None:
    failure = JobFailure(FailureKind.LIMIT, "output_files")
    assert json.dumps({"failure": failure}) == '{"failure": "limit:output_files"}'
    copied = pickle.loads(pickle.dumps(failure))
    assert (copied.kind, copied.detail, copied) == (failure.kind, failure.detail, failure)


def test_a_license_failure_without_its_sentence_reads_back_as_a_hidden_error() -> None:
    """The safe side: what cannot be recognised as a license sentence is not shown whole."""
    odd = JobFailure(FailureKind.LICENSE, "suspended by the bureau")
    assert JobFailure.parse(str(odd)).kind is FailureKind.ERROR


class _Base(DeclarativeBase):
    pass


class _Light(StrEnum):
    RED = "red"
    GREEN = "green"


class _Row(_Base):
    __tablename__ = "rows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    light: Mapped[_Light] = mapped_column(EnumText(_Light))
    failure: Mapped[JobFailure | None] = mapped_column(FailureText, nullable=True)


def test_columns_store_plain_text_and_read_typed_values() -> None:
    engine = create_engine("sqlite://")
    _Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(_Row(id=1, light=_Light.GREEN, failure=JobFailure(FailureKind.RULE, "x")))
        session.commit()
    with engine.connect() as raw:
        assert raw.exec_driver_sql("SELECT light, failure FROM rows").one() == ("green", "rule:x")
    with Session(engine) as session:
        row = session.get(_Row, 1)
        assert row is not None and row.light is _Light.GREEN
        assert row.failure is not None and row.failure.kind is FailureKind.RULE
        # a filter on a value no member has matches nothing, as with a plain string column
        assert session.scalars(select(_Row).where(_Row.light == "amber")).all() == []
        assert session.scalars(select(_Row).where(_Row.light == _Light.GREEN)).one() is row
