"""The unit digest ingest stores beside each row is the first 8 bytes of the MD5 of the
unit's text, read big-endian and signed: the value the core computes from the text
(policies/core_sql.py), so populations of old and new files compare as equal. Its check
value, stored beside it, is the one the sketches' SQL computes from the digest."""

from __future__ import annotations

import hashlib

import duckdb
import pyarrow as pa
import pytest
from sqlglot import exp

from catalog.unit_digests import UNIT_CHECK_COLUMN, UNIT_DIGEST_COLUMN, with_unit_digests
from policies.core_sql import sketch_check


def _expected(text: str | None) -> int | None:
    if text is None:
        return None
    return int.from_bytes(hashlib.md5(text.encode("utf-8")).digest()[:8], "big", signed=True)


@pytest.mark.parametrize(
    ("units", "as_text"),
    [
        (["a", "", "张三丰", " padded ", "x" * 500, None], None),
        ([7, -1, 0, 2**62, None], str),  # DuckDB casts an integer to its decimal text
    ],
)
def test_each_digest_is_the_md5s_first_half_signed(units: list, as_text) -> None:
    table = pa.table({"unit": units, "n": range(len(units))})
    digests = with_unit_digests(table, "unit").column(UNIT_DIGEST_COLUMN)
    assert digests.type == pa.int64()
    texts = [None if u is None else (as_text or str)(u) for u in units]
    assert digests.to_pylist() == [_expected(t) for t in texts]
    # both signs occur over many units, so the byte order and sign are both tested
    many = with_unit_digests(pa.table({"unit": [f"u{i}" for i in range(2000)]}), "unit")
    values = many.column(UNIT_DIGEST_COLUMN).to_pylist()
    assert values == [_expected(f"u{i}") for i in range(2000)]
    assert min(values) < 0 < max(values)


def test_each_check_value_is_the_one_sql_computes_from_the_digest() -> None:
    """The stored check is what `sketch_check` gives in DuckDB for the stored digest, over
    units whose digests take both signs, and NULL where the unit is (as the digest is)."""
    units = [f"meter-{i}" for i in range(3000)] + [None, "张三丰", ""]
    stored = with_unit_digests(pa.table({"unit": units}), "unit")
    assert stored.column(UNIT_CHECK_COLUMN).type == pa.int64()
    expected = sketch_check(exp.column(UNIT_DIGEST_COLUMN)).sql("duckdb")
    with duckdb.connect() as con:
        con.register("stored", stored)
        found = con.execute(
            f"SELECT {UNIT_CHECK_COLUMN}, {expected}, {UNIT_DIGEST_COLUMN} FROM stored"
        ).fetchall()
    assert [checked for checked, _, _ in found] == [computed for _, computed, _ in found]
    assert [checked is None for checked, _, _ in found] == [u is None for u in units]
    digests = [digest for _, _, digest in found if digest is not None]
    assert min(digests) < 0 < max(digests)
    checks = [checked for checked, _, _ in found if checked is not None]
    assert all(0 <= c < 2**63 for c in checks) and len(set(checks)) == len(checks)
