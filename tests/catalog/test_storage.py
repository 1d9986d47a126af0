"""Stored types: every desensitization method lands in Parquet as exactly its stored type."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from catalog.schema import DatasetSchema, stored_type_of
from catalog.storage import STORAGE, arrow_schema, duckdb_types
from catalog.unit_digests import HIDDEN_COLUMNS
from tests.method_store import DATASET, METHODS, connect, ingested, write_method_file


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DatasetSchema, Path]]:
    folder = tmp_path_factory.mktemp("methods")
    source, schema = write_method_file(folder)
    with ingested(folder, [(source, schema)]) as parquet:
        yield schema, parquet[DATASET]


@pytest.mark.parametrize("column", list(METHODS))
def test_each_method_has_the_stored_type_it_promises(
    column: str, store: tuple[DatasetSchema, Path]
) -> None:
    schema, parquet = store
    kind, method, expected = METHODS[column]
    spec = schema.column(column)
    assert spec is not None
    assert spec.stored_type == stored_type_of(kind, method) == expected
    assert pq.read_schema(parquet).field(column).type == STORAGE[expected].arrow
    rows = connect({DATASET: parquet}).execute("DESCRIBE methods").fetchall()
    described = {row[0]: row[1] for row in rows}
    assert described[column] == STORAGE[expected].duckdb == duckdb_types(schema)[column]


def test_the_parquet_schema_is_the_catalogs_whole(store: tuple[DatasetSchema, Path]) -> None:
    schema, parquet = store
    stored = pq.read_schema(parquet).remove_metadata()
    for hidden in HIDDEN_COLUMNS:
        stored = stored.remove(stored.get_field_index(hidden))
    assert stored == arrow_schema(schema)
    assert "gone" not in pq.read_schema(parquet).names


def test_generalized_dates_are_the_first_day_of_their_period(
    store: tuple[DatasetSchema, Path],
) -> None:
    _, parquet = store
    rows = connect({DATASET: parquet}).execute(
        "SELECT DISTINCT day(born), month(born), day(visit), day(seen), month(seen) "
        "FROM methods WHERE born IS NOT NULL AND visit IS NOT NULL AND seen IS NOT NULL"
    )
    assert set(rows.fetchall()) == {(1, 1, 1, 1, 1)}
    first = connect({DATASET: parquet}).execute("SELECT MIN(born) FROM methods").fetchone()
    assert first is not None and isinstance(first[0], date)


def test_integer_buckets_stay_integers_on_their_grid(store: tuple[DatasetSchema, Path]) -> None:
    _, parquet = store
    sql = "SELECT DISTINCT age % 10 FROM methods WHERE age IS NOT NULL"
    ages = connect({DATASET: parquet}).execute(sql)
    assert ages.fetchall() == [(0,)]


@pytest.mark.parametrize(
    ("kind", "method", "stored"),
    [
        ("string", "keep", "string"),
        ("integer", "generalize:bucket:100", "integer"),
        ("integer", "generalize:bucket:0.5", "double"),
        ("double", "generalize:bucket:100", "double"),
        ("integer", "noise:3", "double"),
        ("timestamp", "generalize:month", "date"),
        ("integer", "generalize:prefix:2", "string"),
        ("date", "mask", "string"),
    ],
)
def test_stored_type_is_derived_from_type_and_method(kind: str, method: str, stored: str) -> None:
    assert stored_type_of(kind, method) == stored
