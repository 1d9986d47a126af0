"""The unit digest ingest stores beside each row is the first 8 bytes of the MD5 of the
unit's text, read big-endian and signed: the value the core computes from the text
(policies/core_sql.py), so populations of old and new files compare as equal."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest

from catalog.unit_digests import UNIT_DIGEST_COLUMN, with_unit_digests


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
