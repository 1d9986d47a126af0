"""Desensitization methods, one by one, and the identifier index's hashing."""

from __future__ import annotations

import hmac
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import catalog
from catalog.desensitize import desensitize, mask_lengths, pandas_dtype
from catalog.identifiers import (
    build_identifier_index,
    contains_combination,
    contains_identifier,
    load_index,
    save_index,
)
from catalog.schema import DatasetSchema, load_schema, parse_schema
from catalog.synthetic import ENTERPRISE_SCHEMA, generate_enterprises
from core.errors import InvalidInput, SchemaInvalid

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


def one_column(
    spec: dict[str, object], extra: list[dict[str, object]] | None = None
) -> DatasetSchema:
    """A schema with an `id` privacy unit plus the column under test."""
    columns = [{"name": "id", "level": "L3", "role": "identifier"}, spec, *(extra or [])]
    return parse_schema({"dataset": "t", "privacy_unit": "id", "columns": columns})


def run(spec: dict[str, object], values: list[object], dtype: str | None = None) -> pd.Series:
    schema = one_column(spec)
    frame = pd.DataFrame({"id": [str(i) for i in range(len(values))], spec["name"]: values})
    if dtype:
        frame[spec["name"]] = frame[spec["name"]].astype(dtype)
    out = desensitize(frame, schema, KEY)
    column = schema.column(str(spec["name"]))
    assert column is not None
    assert out[column.name].dtype == pandas_dtype(column.stored_type)
    return out[column.name]


def test_public_surface() -> None:
    assert sorted(catalog.__all__) == catalog.__all__
    for name in catalog.__all__:
        assert hasattr(catalog, name), name


def test_keep_casts_to_the_schema_type() -> None:
    out = run({"name": "n", "type": "integer", "level": "L1"}, [1.0, None, 3.0])
    assert out.tolist() == [1, pd.NA, 3]


def test_pseudonymize_is_hmac_sha256_truncated_and_keeps_nulls() -> None:
    out = run({"name": "code", "level": "L3", "role": "identifier"}, ["9133", None, " 9133 "])
    expected = hmac.new(KEY, b"9133", "sha256").hexdigest()[:32]
    assert out[0] == expected
    assert out[2] == expected, "surrounding blanks must not break joins"
    assert out.isna().tolist() == [False, True, False]


def test_pseudonym_is_stable_across_calls_and_differs_by_key() -> None:
    schema = one_column({"name": "code", "level": "L3", "role": "identifier"})
    frame = pd.DataFrame({"id": ["a", "b"], "code": ["x1", "x2"]})
    first = desensitize(frame, schema, KEY)
    again = desensitize(frame.iloc[::-1], schema, KEY)
    other = desensitize(frame, schema, OTHER_KEY)
    assert first["code"].tolist() == again["code"].iloc[::-1].tolist()
    assert set(first["code"]).isdisjoint(other["code"])
    assert first["code"][0] != first["code"][1]


def test_integer_identifiers_pseudonymize_as_their_digits() -> None:
    as_int = run({"name": "code", "type": "integer", "level": "L3", "role": "identifier"}, [42])
    as_text = run({"name": "code", "level": "L3", "role": "identifier"}, ["42"])
    assert as_int[0] == as_text[0]


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13812345678", "138****5678"),
        ("9133020306796690XY", "913***********90XY"),
        ("宁波恒瑞机械有限公司", "宁波*****限公司"),
        ("12345678", "12***678"),
        ("张三丰", "张*丰"),
        ("张三", "张*"),
        ("张", "*"),
        ("", ""),
    ],
)
def test_mask_keeps_prefix_and_suffix(raw: str, masked: str) -> None:
    out = run({"name": "phone", "level": "L3", "role": "identifier", "desensitize": "mask"}, [raw])
    assert out[0] == masked
    assert len(out[0]) == len(raw)


def test_mask_always_hides_something_and_shows_at_most_seven() -> None:
    for length in range(1, 60):
        head, tail = mask_lengths(length)
        assert head + tail < length
        assert head + tail <= 7


def test_mask_keeps_nulls() -> None:
    out = run({"name": "p", "level": "L2", "desensitize": "mask"}, ["13812345678", None])
    assert out.isna().tolist() == [False, True]


def test_generalize_year_and_month_keep_a_date_at_the_period_start() -> None:
    days = [date(2019, 3, 4), None, date(2001, 12, 31)]
    year = run({"name": "d", "type": "date", "level": "L2", "desensitize": "generalize:year"}, days)
    assert year.tolist() == [date(2019, 1, 1), pd.NA, date(2001, 1, 1)]
    spec = {"name": "d", "type": "date", "level": "L2", "desensitize": "generalize:month"}
    month = run(spec, days)
    assert month.tolist() == [date(2019, 3, 1), pd.NA, date(2001, 12, 1)]


def test_generalize_month_of_a_timestamp_is_a_date() -> None:
    spec = {"name": "t", "type": "timestamp", "level": "L2", "desensitize": "generalize:month"}
    moments = pd.Series(pd.to_datetime(["2020-02-29 23:59:59", None])).astype("datetime64[us]")
    assert run(spec, moments.tolist()).tolist() == [date(2020, 2, 1), pd.NA]


def test_generalize_prefix() -> None:
    spec = {"name": "zip", "level": "L2", "desensitize": "generalize:prefix:3"}
    assert run(spec, ["315000", "31", None]).tolist() == ["315", "31", pd.NA]


def test_generalize_bucket_floors_to_width_and_keeps_integers_integral() -> None:
    spec = {"name": "n", "type": "integer", "level": "L2", "desensitize": "generalize:bucket:100"}
    out = run(spec, [1234, 99, -1, None], dtype="Int64")
    assert out.tolist() == [1200, 0, -100, pd.NA]
    spec = {"name": "n", "type": "integer", "level": "L2", "desensitize": "generalize:bucket:2.5"}
    out = run(spec, [6, None], dtype="Int64")
    assert out.dtype == "float64" and out.tolist()[0] == 5.0
    assert np.isnan(out.tolist()[1])


def test_noise_perturbs_around_the_value_and_differs_between_runs() -> None:
    spec = {"name": "n", "type": "double", "level": "L2", "desensitize": "noise:5"}
    values = [1000.0] * 20_000 + [None]
    first, second = run(spec, values), run(spec, values)
    assert abs(first[:-1].mean() - 1000.0) < 0.5
    assert 6.5 < first[:-1].std() < 7.6  # Laplace(0, b) has std b·√2 ≈ 7.07
    assert np.isnan(first.iloc[-1])
    assert not np.allclose(first[:-1], second[:-1])


def test_method_that_does_not_fit_the_type_is_refused() -> None:
    spec = {"name": "s", "type": "string", "level": "L2", "desensitize": "generalize:year"}
    with pytest.raises(SchemaInvalid, match="'s' is string"):
        run(spec, ["2020-01-01"])


def test_only_stored_columns_in_schema_order() -> None:
    schema = load_schema(ENTERPRISE_SCHEMA)
    frame = generate_enterprises(500, seed=3)
    out = desensitize(frame[frame.columns[::-1]], schema, KEY)
    assert list(out.columns) == [c.name for c in schema.stored_columns]
    assert {"name", "legal_person"}.isdisjoint(out.columns)
    for spec in schema.stored_columns:
        assert out[spec.name].dtype == pandas_dtype(spec.stored_type), spec.name
    assert out["phone"].str.fullmatch(r"1\d\d\*{4}\d{4}").all()


@pytest.mark.parametrize("method", ["generalize:bucket:0", "generalize:bucket:1.2.3", "noise:0"])
def test_zero_or_malformed_width_is_refused(method: str) -> None:
    with pytest.raises(SchemaInvalid, match="positive number"):
        run({"name": "n", "type": "double", "level": "L2", "desensitize": method}, [1.0])


def test_missing_column_is_refused() -> None:
    schema = one_column({"name": "n", "type": "integer", "level": "L1"})
    with pytest.raises(SchemaInvalid, match=r"\['n'\]"):
        desensitize(pd.DataFrame({"id": ["a"]}), schema, KEY)


def test_hundred_thousand_rows_desensitize_quickly() -> None:
    schema = load_schema(ENTERPRISE_SCHEMA)
    frame = generate_enterprises(100_000, seed=5)
    started = time.perf_counter()
    out = desensitize(frame, schema, KEY)
    print(f"\ndesensitized {len(out):,} rows in {time.perf_counter() - started:.2f} s")
    assert len(out) == 100_000


def test_identifier_index_holds_raw_values_not_pseudonyms(tmp_path: Path) -> None:
    schema = one_column(
        {"name": "phone", "level": "L3", "role": "identifier", "desensitize": "mask"},
        [
            {"name": "born", "type": "integer", "level": "L2", "role": "quasi_identifier"},
            {"name": "zip", "level": "L2", "role": "quasi_identifier"},
        ],
    )
    frame = pd.DataFrame(
        {
            "id": ["A1", "A2"],
            "phone": ["13812345678", None],
            "born": [1980, 1991],
            "zip": ["315000", "315100"],
        }
    )
    index = build_identifier_index(frame, schema, KEY)
    path = tmp_path / "identifiers.bin"
    save_index(path, index)
    loaded = load_index(path)
    assert loaded == index
    assert path.stat().st_size == 8 + 16 * len(index)
    assert contains_identifier(" A1 ", loaded, KEY)
    assert contains_identifier(13812345678, loaded, KEY)
    assert not contains_identifier("A3", loaded, KEY)
    assert not contains_identifier(None, loaded, KEY)
    assert not contains_identifier("A1", loaded, OTHER_KEY)
    pseudonyms = desensitize(frame, schema, KEY)["id"]
    assert not any(contains_identifier(p, loaded, KEY) for p in pseudonyms)
    assert not {p[:32] for p in pseudonyms} & loaded
    assert contains_combination([1980.0, "315000"], loaded, KEY)
    assert not contains_combination([1980, "315100"], loaded, KEY)
    assert not contains_identifier("1980", loaded, KEY), "quasi-identifiers alone are not indexed"


def test_load_index_refuses_a_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "not-an-index.bin"
    path.write_bytes(b"hello")
    with pytest.raises(InvalidInput, match="not an identifier index"):
        load_index(path)
