"""Ingest end to end on real files and a real SQLite database, refusals included."""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import audit_log
import audit_log.records  # noqa: F401  (registers the audit table on Base)
import catalog.records  # noqa: F401  (registers the datasets table on Base)
from audit_log import Actor, AuditEntry
from catalog.identifiers import contains_identifier, load_index
from catalog.ingest import get_dataset, ingest, list_datasets, typed_column
from catalog.records import Dataset
from catalog.schema import ColumnSpec, DatasetSchema, load_schema, parse_schema
from catalog.synthetic import generate_enterprises, write_demo_files, write_social_security_files
from core.errors import Conflict, InvalidInput, NotFound, SchemaInvalid
from core.home import Home
from core.levels import Level, Role
from service.web.i18n import translator
from service.web.wording import error_words

ACTOR = Actor("liu.authority", "authority")
ROWS = 2000
SEED = 11


@pytest.fixture
def demo(tmp_path: Path) -> tuple[Path, DatasetSchema]:
    csv, schema_path = write_demo_files(tmp_path / "raw", ROWS, SEED)
    return csv, load_schema(schema_path)


def assert_nothing_left(session: Session, home: Home) -> None:
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Dataset)) == 0
    assert list(home.store.iterdir()) == []


def test_happy_path_writes_parquet_index_row_and_audit_entry(
    session: Session, home: Home, demo: tuple[Path, DatasetSchema]
) -> None:
    csv, schema = demo
    steps: list[str] = []
    dataset = ingest(session, home, csv, schema, ACTOR, progress=steps.append)
    session.commit()

    assert dataset.row_count == ROWS
    assert dataset.version == 1
    # read on a thread beside the batches, it is still the whole file's SHA-256
    assert dataset.source_digest == hashlib.sha256(csv.read_bytes()).hexdigest()
    assert dataset.store_path == "store/enterprise_utilities/data.parquet"
    table = pq.read_table(dataset.data_path(home))
    assert table.num_rows == ROWS
    # the stored columns, then each row's unit digest and its check value, hidden
    stored = [c.name for c in schema.stored_columns]
    assert table.column_names == [*stored, "__unit_digest", "__unit_check"]
    assert {"name", "legal_person"}.isdisjoint(table.column_names)
    assert str(table.schema.field("founded").type) == "date32[day]"
    assert any("desensitizing" in s for s in steps) and any("writing" in s for s in steps)

    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "dataset.ingested")).one()
    assert entry.subject == "dataset:enterprise_utilities"
    assert entry.details["rows"] == ROWS
    assert entry.details["source_digest"] == dataset.source_digest
    assert entry.details["columns"]["water_fee"] == "L3"
    assert entry.details["dropped"] == ["name", "legal_person"]
    assert entry.actor == ACTOR.name

    assert get_dataset(session, "enterprise_utilities").id == dataset.id
    assert [d.name for d in list_datasets(session)] == ["enterprise_utilities"]
    assert dataset.one_row_per_unit is True  # one row per enterprise, counted at ingest
    assert entry.details["one_row_per_unit"] is True
    assert dataset.unit_digests is True and dataset.unit_checks is True
    facts = {"one_row_per_unit": True, "unit_digests": True, "unit_checks": True}
    assert dataset.schema() == replace(schema, **facts)
    described = dataset.to_dict()
    columns = {c["name"]: c for c in described["columns"]}
    assert columns["founded"]["stored_type"] == "date"
    assert columns["legal_person"]["stored"] is False
    assert columns["capital"]["bounds"] == [0.0, 100_000_000.0]


def test_identifier_index_contains_raw_ids_not_pseudonyms(
    session: Session, home: Home, demo: tuple[Path, DatasetSchema]
) -> None:
    csv, schema = demo
    dataset = ingest(session, home, csv, schema, ACTOR)
    session.commit()
    raw = pd.read_csv(csv, dtype=str)
    stored = pd.read_parquet(dataset.data_path(home))
    index = load_index(dataset.index_path(home))
    key = home.pseudonym_key()
    for column in ("enterprise_id", "name", "legal_person", "phone"):
        assert contains_identifier(raw[column].iloc[0], index, key), column
    assert not contains_identifier(stored["enterprise_id"].iloc[0], index, key)
    assert not contains_identifier(stored["phone"].iloc[0], index, key)
    assert not contains_identifier(raw["district"].iloc[0], index, key)


def test_pseudonyms_join_across_datasets(session: Session, home: Home, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    enterprises_csv, enterprises_schema = write_demo_files(raw, ROWS, SEED)
    social_csv, social_schema = write_social_security_files(
        raw, generate_enterprises(ROWS, SEED), SEED
    )
    utilities = ingest(session, home, enterprises_csv, load_schema(enterprises_schema), ACTOR)
    social = ingest(session, home, social_csv, load_schema(social_schema), ACTOR)
    session.commit()
    left = pd.read_parquet(utilities.data_path(home))
    right = pd.read_parquet(social.data_path(home))
    assert "account_no" not in right.columns, "L4 columns never enter the store"
    joined = left.merge(right, on="enterprise_id")
    assert 0.8 * len(right) < len(joined) == len(right)
    assert (joined["insured_staff"] <= joined["employees"]).all()


def test_schema_missing_a_level_is_refused() -> None:
    raw = yaml.safe_load(
        "dataset: t\nprivacy_unit: id\ncolumns:\n"
        "  - {name: id, level: L3, role: identifier}\n"
        "  - {name: fee, type: double, role: measure, bounds: [0, 1]}\n"
    )
    with pytest.raises(SchemaInvalid, match="column 'fee' has no level"):
        parse_schema(raw)


def test_a_refused_file_is_worded_in_chinese_in_full(
    session: Session, home: Home, demo: tuple[Path, DatasetSchema], tmp_path: Path
) -> None:
    """The console words an ingest refusal from its code and figures: no English left."""
    csv, schema = demo
    frame = pd.read_csv(csv, dtype=str).drop(columns=["gas_fee"]).assign(bank_account="x")
    changed = tmp_path / "changed.csv"
    frame.to_csv(changed, index=False)
    with pytest.raises(SchemaInvalid) as refused:
        ingest(session, home, changed, schema, ACTOR)
    worded = error_words(refused.value, translator("zh-CN")).message
    assert "缺少字段 gas_fee；多出字段 bank_account" in worded
    assert worded.startswith(f"数据字典或文件有误：changed.csv 与数据字典 {schema.dataset} 不符")
    facts = rf"changed\.csv|{schema.dataset}|gas_fee|bank_account|desensitize: drop"
    english = re.sub(facts, "", worded)
    assert not re.search(r"[A-Za-z]{3,}", english), worded


def test_file_columns_differing_from_schema_are_refused(
    session: Session, home: Home, demo: tuple[Path, DatasetSchema], tmp_path: Path
) -> None:
    csv, schema = demo
    frame = pd.read_csv(csv, dtype=str).drop(columns=["gas_fee"]).assign(bank_account="x")
    changed = tmp_path / "changed.csv"
    frame.to_csv(changed, index=False)
    with pytest.raises(
        SchemaInvalid, match="missing columns: gas_fee; extra columns: bank_account"
    ):
        ingest(session, home, changed, schema, ACTOR)
    assert_nothing_left(session, home)


def test_second_ingest_of_the_same_name_is_a_conflict(
    session: Session, home: Home, demo: tuple[Path, DatasetSchema]
) -> None:
    csv, schema = demo
    ingest(session, home, csv, schema, ACTOR)
    session.commit()
    with pytest.raises(Conflict, match=r"enterprise_utilities is already registered \(version 1\)"):
        ingest(session, home, csv, schema, ACTOR)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Dataset)) == 1
    assert [p.name for p in home.store.iterdir()] == ["enterprise_utilities"]


@pytest.mark.parametrize(
    ("column", "value", "kind"),
    [
        ("capital", "一百万", "double"),
        ("employees", "12.5", "integer"),
        ("founded", "2020-13-45", "date"),
    ],
)
def test_unparsable_value_is_refused_naming_column_and_row(
    session: Session,
    home: Home,
    demo: tuple[Path, DatasetSchema],
    tmp_path: Path,
    column: str,
    value: str,
    kind: str,
) -> None:
    csv, schema = demo
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    frame.loc[41, column] = value
    broken = tmp_path / "broken.csv"
    frame.to_csv(broken, index=False)
    message = rf"column '{column}', row 42 \(line 43 of the file\): '{value}' is not a valid {kind}"
    with pytest.raises(SchemaInvalid, match=message):
        ingest(session, home, broken, schema, ACTOR)
    assert_nothing_left(session, home)
    assert not [t for t in threading.enumerate() if t.name.startswith("sluice-ingest")]


@pytest.mark.parametrize(
    ("name", "content", "error", "message"),
    [
        ("empty.csv", "", InvalidInput, "is empty"),
        ("header.csv", "HEADER", InvalidInput, "has no data rows"),
        ("data.xlsx", "x", InvalidInput, "unsupported file type '.xlsx'"),
    ],
)
def test_unusable_files_are_refused(
    session: Session,
    home: Home,
    demo: tuple[Path, DatasetSchema],
    tmp_path: Path,
    name: str,
    content: str,
    error: type[Exception],
    message: str,
) -> None:
    csv, schema = demo
    header = csv.read_text(encoding="utf-8").splitlines()[0]
    path = tmp_path / name
    path.write_text(content.replace("HEADER", header + "\n"), encoding="utf-8")
    with pytest.raises(error, match=message):
        ingest(session, home, path, schema, ACTOR)
    assert_nothing_left(session, home)


def test_non_utf8_file_is_refused_with_a_fix(
    session: Session, home: Home, demo: tuple[Path, DatasetSchema], tmp_path: Path
) -> None:
    csv, schema = demo
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(csv.read_text(encoding="utf-8").encode("gb18030"))
    with pytest.raises(InvalidInput, match="not UTF-8.*iconv"):
        ingest(session, home, gbk, schema, ACTOR)
    assert_nothing_left(session, home)


def test_parquet_source_is_accepted(session: Session, home: Home, tmp_path: Path) -> None:
    _, schema_path = write_demo_files(tmp_path / "raw", 10, SEED)
    source = tmp_path / "raw" / "enterprises.parquet"
    generate_enterprises(300, SEED).to_parquet(source, index=False)
    dataset = ingest(session, home, source, load_schema(schema_path), ACTOR)
    assert dataset.row_count == 300


def test_rollback_by_the_caller_removes_the_files(
    session: Session, home: Home, demo: tuple[Path, DatasetSchema]
) -> None:
    csv, schema = demo
    ingest(session, home, csv, schema, ACTOR)
    assert (home.store / schema.dataset / "data.parquet").exists()
    assert_nothing_left(session, home)


def test_failure_after_writing_removes_the_files(
    session: Session, home: Home, demo: tuple[Path, DatasetSchema], monkeypatch: pytest.MonkeyPatch
) -> None:
    csv, schema = demo

    def broken_append(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(audit_log, "append", broken_append)
    with pytest.raises(RuntimeError, match="audit store unavailable"):
        ingest(session, home, csv, schema, ACTOR)
    assert_nothing_left(session, home)


def test_unknown_dataset_names_the_known_ones(
    session: Session, home: Home, demo: tuple[Path, DatasetSchema]
) -> None:
    with pytest.raises(NotFound, match="no dataset is registered yet"):
        get_dataset(session, "enterprise_utilities")
    csv, schema = demo
    ingest(session, home, csv, schema, ACTOR)
    session.commit()
    with pytest.raises(NotFound, match="known datasets: enterprise_utilities"):
        get_dataset(session, "utilities")


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("integer", ["7", "1e3", None], [7, 1000, pd.NA]),
        ("double", ["1.5", " 2 ", None], [1.5, 2.0, None]),
        ("boolean", ["yes", "FALSE", None], [True, False, pd.NA]),
        ("date", ["2024-02-29", None], [date(2024, 2, 29), None]),
        ("timestamp", ["2024-02-29T08:30:00+08:00"], [datetime(2024, 2, 29, 0, 30)]),
    ],
)
def test_text_is_typed_per_schema(
    kind: str, text: list[str | None], expected: list[object]
) -> None:
    spec = ColumnSpec("c", kind, Level.L1, Role.ATTRIBUTE)
    typed = typed_column(pd.Series(text, dtype="str"), spec, first_line=2)
    assert [None if pd.isna(v) else v for v in typed.tolist()] == [
        None if v is None or v is pd.NA else v for v in expected
    ]


@pytest.mark.parametrize(
    ("kind", "text"),
    [("integer", "1.5"), ("double", "inf"), ("boolean", "maybe"), ("date", "2024-02-29 10:00")],
)
def test_text_that_does_not_fit_is_refused(kind: str, text: str) -> None:
    spec = ColumnSpec("c", kind, Level.L1, Role.ATTRIBUTE)
    with pytest.raises(SchemaInvalid, match=r"column 'c', row 2 \(line 3 of the file\)"):
        typed_column(pd.Series(["", text], dtype="str").replace("", None), spec, first_line=2)


def test_a_missing_source_is_refused_before_anything_starts(
    session: Session, home: Home, demo: tuple[Path, DatasetSchema], tmp_path: Path
) -> None:
    _, schema = demo
    missing = tmp_path / "gone.csv"
    with pytest.raises(InvalidInput, match=r"gone\.csv does not exist; check the path"):
        ingest(session, home, missing, schema, ACTOR)
    assert_nothing_left(session, home)
    assert not [t for t in threading.enumerate() if t.name.startswith("sluice-ingest")]
