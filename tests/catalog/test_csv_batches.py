"""Ingest reads CSV with Arrow's streaming reader (issue 18): what it stores equals what
the whole-file pandas read typed, rows are cut into exact batches, and a misshapen file
is refused by its line, in both languages, without quoting the row's raw values."""

from __future__ import annotations

import random
import re
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import audit_log.records  # noqa: F401  (registers the audit table on Base)
import catalog.records  # noqa: F401  (registers the datasets table on Base)
from audit_log import Actor
from catalog.csv_batches import header, text_batches
from catalog.ingest import BATCH_ROWS, _numbers, ingest, read_source
from catalog.records import Dataset
from catalog.schema import parse_schema
from catalog.unit_digests import HIDDEN_COLUMNS
from core.errors import InvalidInput
from core.home import Home
from service.web.i18n import translator
from service.web.wording import error_words

ACTOR = Actor("liu.authority", "authority")
SECRET_ID = "110101199003071234"
SCHEMA = parse_schema(
    {
        "dataset": "meters",
        "privacy_unit": "meter_id",
        "columns": [
            {
                "name": "meter_id",
                "type": "string",
                "level": "L3",
                "role": "identifier",
                "desensitize": "pseudonymize",
            },
            {"name": "note", "type": "string", "level": "L1", "role": "dimension"},
            {"name": "kwh", "type": "double", "level": "L2", "role": "measure", "bounds": [0, 100]},
        ],
    }
)


def _write(tmp_path: Path, text: str, name: str = "meters.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def _refused(session: Session, home: Home, path: Path) -> InvalidInput:
    with pytest.raises(InvalidInput) as refused:
        ingest(session, home, path, SCHEMA, ACTOR)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Dataset)) == 0
    assert list(home.store.iterdir()) == []
    return refused.value


def test_stored_values_equal_the_whole_file_read_quirks_included(
    session: Session, home: Home, tmp_path: Path
) -> None:
    text = (
        "\ufeffmeter_id , note,kwh\r\n"  # a byte-order mark, padded names, CRLF
        "m1,NA,1.5\r\n"  # NA and null are text, not null
        " m1 ,null,\r\n"  # an empty cell is null
        '"m""2",' + '"two\nlines",2\r\n'  # quotes and a value over two lines
        "\r\n"  # a blank line is skipped
        'm3,"",3e1\r\n'  # a quoted empty cell is null too
        "m4,张三丰\u3000, 4 \r\n"
    )
    path = _write(tmp_path, text)
    ingest(session, home, path, SCHEMA, ACTOR)
    (stored,) = home.store.glob("meters*/data.parquet")
    table = pq.read_table(stored).drop_columns(list(HIDDEN_COLUMNS)).to_pandas()
    whole = read_source(path, SCHEMA)
    assert table["note"].tolist()[:2] == ["NA", "null"]
    assert table["note"].isna().tolist() == whole["note"].isna().tolist()
    assert table["note"].dropna().tolist() == whole["note"].dropna().tolist()
    assert (
        table["kwh"].fillna(-1).tolist()
        == whole["kwh"].fillna(-1).tolist()
        == [1.5, -1, 2.0, 30.0, 4.0]
    )
    assert table["meter_id"][0] == table["meter_id"][1] != table["meter_id"][2]


def test_rows_come_in_batches_of_exactly_the_size_asked(tmp_path: Path) -> None:
    lines = "".join(f"m{i},n{i % 7},{i % 100}\n" for i in range(10_007))
    path = _write(tmp_path, "meter_id,note,kwh\n" + lines)
    batches = list(text_batches(path, header(path), 1_000))
    assert [len(b) for b in batches] == [1_000] * 10 + [7]
    assert batches[3]["meter_id"].iloc[0] == "m3000" and str(batches[0]["kwh"].dtype) == "string"


@pytest.mark.parametrize(
    ("row", "got"),
    [(f"{SECRET_ID},short", 2), (f"{SECRET_ID},a,1,extra", 4), (f"{SECRET_ID},a,1,", 4)],
    ids=["short", "long", "trailing-comma"],
)
def test_a_row_with_the_wrong_number_of_values_is_refused_by_its_line(
    session: Session, home: Home, tmp_path: Path, row: str, got: int
) -> None:
    good = "".join(f"m{i},n,{i % 100}\n" for i in range(5000))
    path = _write(tmp_path, "meter_id,note,kwh\n" + good + row + "\nm9,n,1\n")
    error = _refused(session, home, path)
    assert str(error) == (
        f"meters.csv: row 5001 (line 5002 of the file) has {got} values but the header "
        "names 3 columns; give every row one value per column (leave a value empty for null)"
    )
    chinese = error_words(error, translator("zh-CN")).message
    assert "第 5001 行（文件第 5002 行）" in chinese and f"有 {got} 个值" in chinese
    assert not re.search(r"[A-Za-z]{3,}", chinese.replace("meters.csv", "")), chinese
    assert SECRET_ID not in str(error) and SECRET_ID not in chinese


def test_a_file_that_is_not_utf8_past_its_header_is_refused_with_a_fix(
    session: Session, home: Home, tmp_path: Path
) -> None:
    path = tmp_path / "meters.csv"
    body = "".join(f"m{i},n,1\n" for i in range(50_000)) + "m9,北京,1\n"
    path.write_bytes(b"meter_id,note,kwh\n" + body.encode("gb18030"))
    assert "not UTF-8" in str(_refused(session, home, path))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "meters.csv is empty"),
        ("meter_id,note,kwh\n", "meters.csv has no data rows"),
        ("meter_id,note,kwh, note\nm1,a,1,b\n", "the header names note more than once"),
        # the open quote takes the rest of the file into one value
        ('meter_id,note,kwh\nm1,"open quote,1\n', "row 1 (line 2 of the file) has 2 values"),
    ],
    ids=["empty", "header-only", "duplicate-name", "open-quote"],
)
def test_unusable_files_are_refused_with_what_to_do(
    session: Session, home: Home, tmp_path: Path, text: str, message: str
) -> None:
    assert message in str(_refused(session, home, _write(tmp_path, text)))


def test_numbers_parsed_by_arrow_are_pandas_numbers_bit_for_bit() -> None:
    rng = random.Random(5)
    texts = [repr(rng.uniform(-1e6, 1e6)) for _ in range(20_000)]
    texts += ["%.25g" % (rng.random() * 10 ** rng.randint(-320, 308)) for _ in range(20_000)]
    texts += [str(rng.randint(-(2**63), 2**63)) for _ in range(5_000)]
    texts += ["5.", ".5", "+5", "-0", "1E5", "00012", "4.9e-324", "1e400", "inf", "nan", None]
    arrow = _numbers(pd.Series(texts, dtype=pd.StringDtype()))
    by_pandas = pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce").astype("float64")
    got, wanted = arrow.to_numpy(), by_pandas.to_numpy()
    np.testing.assert_array_equal(got, wanted)  # NaN where pandas has NaN
    assert (np.signbit(got) == np.signbit(wanted)).all()  # -0.0 stays -0.0


def test_a_batch_arrow_cannot_parse_is_parsed_by_pandas() -> None:
    texts = pd.Series(["1.5", " 4 ", None, "x"], dtype=pd.StringDtype())
    assert _numbers(texts).fillna(-1).tolist() == [1.5, 4.0, -1, -1]


def test_a_bad_value_in_a_later_batch_is_named_by_its_line_and_no_thread_stays(
    session: Session, home: Home, tmp_path: Path
) -> None:
    """Batches are read ahead and written behind on threads (catalog.read_ahead,
    catalog.store_writer); a refusal still names the first bad value's own line."""
    lines = [f"m{i},n,{i % 100}" for i in range(BATCH_ROWS * 2 + 10)]
    lines[BATCH_ROWS + 7] = "m-bad,n,not a number"
    path = _write(tmp_path, "meter_id,note,kwh\n" + "\n".join(lines) + "\n")
    error = _refused(session, home, path)
    assert f"row {BATCH_ROWS + 8} (line {BATCH_ROWS + 9} of the file): 'not a number'" in str(error)
    ingest_threads = ("sluice-read-ahead", "sluice-ingest-write")
    assert not [t for t in threading.enumerate() if t.name.startswith(ingest_threads)]


def test_a_header_arrow_reads_otherwise_is_refused_not_typed_by_guessing(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, "meter_id,note,kwh\nm1,007,1\n")
    assert header(path) == ["meter_id", "note", "kwh"]
    with pytest.raises(InvalidInput, match=r"its header reads as \['meter_id', 'note', 'kwh'\]"):
        list(text_batches(path, ["meter_id", "notes", "kwh"], 10))
    (batch,) = text_batches(path, header(path), 10)
    assert batch["note"].tolist() == ["007"]  # text, as written
