"""A CSV file as text, batch by batch, read with Arrow's streaming CSV reader.

Every value stays text (typing later names the first bad value), and only an empty
cell is null: "NA" or "null" may be real values. The parser is Arrow's, on one thread:
about ten times less CPU than pandas' for the same file. A row with more or fewer
values than the header is refused, by its line, without quoting it (pandas filled a
short row with nulls, and took a row with one extra value for an index).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv

from core.errors import InvalidInput

BLOCK_BYTES = 4 << 20  # what the parser takes in at a time; batches are cut by rows
TEXT_TYPES = {pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}


def header(source: Path) -> list[str]:
    """The header's names as written (a UTF-8 byte-order mark dropped)."""
    try:
        with source.open(encoding="utf-8-sig", newline="") as handle:
            names = next(csv.reader(handle), None)
    except UnicodeDecodeError:
        raise InvalidInput.coded("ingest_not_utf8", file=source.name) from None
    if not names:
        raise InvalidInput.coded("ingest_file_empty", file=source.name)
    return names


def text_batches(source: Path, names: list[str], rows: int) -> Iterator[pd.DataFrame]:
    """The file's data rows, `rows` at a time (the last may be shorter), every column
    as pandas text named as in the header."""
    misshapen: list[pcsv.InvalidRow] = []

    def refuse(row: pcsv.InvalidRow) -> str:
        misshapen.append(row)
        return "error"

    try:
        reader = pcsv.open_csv(
            source,
            read_options=pcsv.ReadOptions(use_threads=False, block_size=BLOCK_BYTES),
            parse_options=pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=refuse),
            convert_options=pcsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        if reader.schema.names != names or not all(
            pa.types.is_string(field.type) for field in reader.schema
        ):  # Arrow read the header otherwise: its columns would be typed by guessing
            detail = f"its header reads as {reader.schema.names}, not {names}"
            raise InvalidInput.coded("ingest_unreadable", file=source.name, detail=detail)
        for table in _cut(reader, rows):
            yield table.to_pandas(types_mapper=TEXT_TYPES.get)
    except pa.ArrowInvalid as error:
        raise _refusal(source, misshapen, str(error)) from None


def _cut(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """The parser's batches joined and cut into tables of exactly `rows` rows."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        held.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(held)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            held, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(held)


def _refusal(source: Path, misshapen: list[pcsv.InvalidRow], detail: str) -> InvalidInput:
    if misshapen:
        row = misshapen[0]
        line = row.number if row.number is not None else 0
        return InvalidInput.coded(
            "ingest_row_values",
            file=source.name,
            row=line - 1,
            line=line,
            got=row.actual_columns,
            expected=row.expected_columns,
        )
    if "invalid UTF8" in detail:
        return InvalidInput.coded("ingest_not_utf8", file=source.name)
    return InvalidInput.coded("ingest_unreadable", file=source.name, detail=detail)
