"""Synthetic demo data: valid credit codes, plausible values, and speed."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from catalog.schema import load_schema
from catalog.synthetic import (
    BOUNDS,
    NINGBO,
    credit_check_char,
    generate_enterprises,
    generate_social_security,
    is_valid_credit_code,
    organization_check_char,
    write_demo_files,
    write_social_security_files,
)


@pytest.fixture(scope="module")
def enterprises() -> pd.DataFrame:
    return generate_enterprises(5000, seed=21)


@pytest.mark.parametrize(
    "code",
    # Published codes of well-known companies: the checksum must agree with them.
    ["9144030071526726XG", "914403001922038216", "91330100716105852F", "91110000802100433B"],
)
def test_checksums_agree_with_real_codes(code: str) -> None:
    assert credit_check_char(code[:17]) == code[17]
    assert organization_check_char(code[8:16]) == code[16]
    assert is_valid_credit_code(code)


@pytest.mark.parametrize(
    "code",
    ["9144030071526726XH", "914403001922038226", "9144030071526726X", "9I44030071526726XG"],
)
def test_altered_codes_fail(code: str) -> None:
    assert not is_valid_credit_code(code)


def test_generated_credit_codes_are_valid_unique_and_local(enterprises: pd.DataFrame) -> None:
    codes = enterprises["enterprise_id"]
    assert codes.is_unique
    assert all(is_valid_credit_code(c) for c in codes)
    divisions = {place.code for place in NINGBO.values()}
    assert set(codes.str.slice(2, 8)) <= divisions
    founded = pd.to_datetime(enterprises["founded"])
    new_style = codes.str.slice(8, 10) == "MA"
    assert (new_style == (founded >= "2015-10-01")).all()


def test_values_are_plausible_and_within_bounds(enterprises: pd.DataFrame) -> None:
    assert set(enterprises["district"]) == set(NINGBO)
    for district, place in NINGBO.items():
        in_district = enterprises["district"] == district
        assert set(enterprises.loc[in_district, "street"]) <= set(place.streets)
    assert enterprises["phone"].str.fullmatch(r"1[3-9]\d{9}").all()
    assert enterprises["name"].str.endswith("公司").all()
    assert enterprises["legal_person"].str.len().between(2, 4).all()
    for column, high in BOUNDS.items():
        assert enterprises[column].between(0, high).all(), column
    assert enterprises["electricity_fee"].median() < enterprises["electricity_fee"].mean()
    by_industry = enterprises.groupby("industry")["electricity_fee"].median()
    assert by_industry["制造业"] > by_industry["批发和零售业"]


def test_some_district_industry_groups_are_sparse() -> None:
    sizes = generate_enterprises(100_000, seed=2).groupby(["district", "industry"]).size()
    assert ((sizes > 0) & (sizes < 10)).sum() >= 2


def test_same_seed_same_data() -> None:
    pd.testing.assert_frame_equal(generate_enterprises(300, 4), generate_enterprises(300, 4))
    assert not generate_enterprises(300, 4).equals(generate_enterprises(300, 5))


def test_hundred_thousand_rows(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    frame = generate_enterprises(100_000, seed=1)
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\ngenerated {len(frame):,} enterprises in {elapsed:.2f} s")
    assert len(frame) == 100_000
    assert frame["enterprise_id"].is_unique


def test_social_security_shares_the_raw_codes(enterprises: pd.DataFrame) -> None:
    social = generate_social_security(enterprises, seed=21)
    assert set(social["enterprise_id"]) <= set(enterprises["enterprise_id"])
    assert 0.8 < len(social) / len(enterprises) < 1.0
    merged = social.merge(enterprises, on="enterprise_id")
    assert (merged["insured_staff"] <= merged["employees"]).all()
    assert social["account_no"].str.fullmatch(r"3302\d{10}").all()


def test_demo_files_match_their_schemas(tmp_path: Path) -> None:
    csv, schema_path = write_demo_files(tmp_path, 200, 8)
    schema = load_schema(schema_path)
    header = pd.read_csv(csv, nrows=0).columns.tolist()
    assert header == [c.name for c in schema.columns]
    assert schema.dataset == "enterprise_utilities"
    assert schema.owner == "宁波市市场监管局"
    social_csv, social_schema_path = write_social_security_files(
        tmp_path, generate_enterprises(200, 8), 8
    )
    social_schema = load_schema(social_schema_path)
    assert pd.read_csv(social_csv, nrows=0).columns.tolist() == [
        c.name for c in social_schema.columns
    ]
    assert social_schema.dataset == "social_insurance"
    account = social_schema.column("account_no")
    assert account is not None and not account.stored
