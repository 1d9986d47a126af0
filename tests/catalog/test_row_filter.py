"""Row filters (行范围) as the catalog checks them, and the filtered copies it makes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from catalog import get_dataset
from catalog.filtered import filtered_file
from catalog.row_filter import (
    conjoin,
    parse_row_filter,
    parse_row_filters,
    render,
    row_filters_from,
    split_row_filter,
)
from catalog.schema import DatasetSchema, load_schema
from core.errors import InvalidInput
from service.domain import Domain
from tests.conftest import build_world

DEMO = Path(__file__).parents[2] / "catalog" / "demo"
E = "enterprise_utilities"


@pytest.fixture(scope="module")
def schema() -> DatasetSchema:
    return load_schema(DEMO / "enterprise_utilities.yaml")


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("District = '镇海区'", "district = '镇海区'"),
        (f"{E}.district = '镇海区'", "district = '镇海区'"),
        ("year(founded) >= 2015 AND capital > 0", "YEAR(founded) >= 2015 AND capital > 0"),
        ("district IN ('镇海区', '海曙区')", "district IN ('镇海区', '海曙区')"),
        ("FALSE", "FALSE"),
    ],
)
def test_a_filter_is_kept_as_its_checked_rendering(
    text: str, stored: str, schema: DatasetSchema
) -> None:
    assert render(parse_row_filter(text, schema)) == stored


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("district = '镇海", "not a SQL predicate"),  # the tokenizer fails, not the parser
        ('"', "not a SQL predicate"),
        ("(" * 3000 + "1" + ")" * 3000, "not a SQL predicate"),
        ("district = ", "not a SQL predicate"),
        (f"district IN (SELECT district FROM {E})", "not allowed"),
        ("district = ?", "not allowed"),
        ("legal_person = 'x'", "not a stored column"),  # dropped at ingest
        ("insured_staff > 1", "not a stored column"),  # another dataset's column
        ("e.district = 'x'", "not a stored column"),  # another table's
    ],
)
def test_bad_filters_are_refused_with_what_to_do(
    text: str, said: str, schema: DatasetSchema
) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_row_filter(text, schema)
    assert said in refused.value.message and refused.value.suggestion
    assert len(refused.value.message) < 600


def test_filters_are_only_for_the_licensed_datasets(schema: DatasetSchema) -> None:
    with pytest.raises(InvalidInput, match="does not cover"):
        parse_row_filters({"social_insurance": "insured_staff > 1"}, {E: schema})
    assert parse_row_filters({}, {E: schema}) == {}


def test_conjoining_keeps_both_filters(schema: DatasetSchema) -> None:
    wide = parse_row_filter("district = 'a' OR 1 = 1", schema)
    narrow = parse_row_filter("industry = 'b'", schema)
    assert render(conjoin(wide, narrow)) == "(district = 'a' OR 1 = 1) AND industry = 'b'"
    assert render(conjoin(narrow, narrow.copy())) == "industry = 'b'"


def test_dataset_colon_predicate_as_front_ends_take_it() -> None:
    assert split_row_filter(f" {E} : district = 'a:b'") == (E, "district = 'a:b'")
    assert row_filters_from([f"{E}:x::INT = 1", "social_insurance:y > 1"]) == {
        E: "x::INT = 1",
        "social_insurance": "y > 1",
    }
    for text in ("district = 'a'", ":x = 1", f"{E}:", "a b:x = 1"):
        with pytest.raises(InvalidInput, match="which dataset"):
            split_row_filter(text)
    with pytest.raises(InvalidInput, match="two row filters"):
        row_filters_from([f"{E}:x = 1", f"{E}:y = 2"])


def test_a_filtered_copy_that_cannot_be_made_names_no_stored_value(
    domain: Domain, demo_files, schema: DatasetSchema
) -> None:
    build_world(domain, demo_files)
    with domain.transaction() as session:
        record = get_dataset(session, E)
        # parses and names a stored column, but casting every district to a number fails
        broken = parse_row_filter("CAST(district AS INTEGER) > 0", schema)
        with pytest.raises(InvalidInput) as refused:
            filtered_file(domain.home, 1, record, broken)
        some = duckdb.sql(f"SELECT district FROM read_parquet('{record.data_path(domain.home)}')")
        district = some.fetchall()[0][0]
        assert district not in str(refused.value) and "stored types" in refused.value.message
        assert list((domain.home.filtered / "license-1" / E).iterdir()) == []  # no half file
        made = filtered_file(domain.home, 1, record, parse_row_filter("district = 'x'", schema))
        empty = duckdb.sql(f"SELECT * FROM read_parquet('{made}')").fetchall()
        assert made.exists() and empty == []
