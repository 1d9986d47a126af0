"""A pseudonymized text identifier is hashed once for its pseudonym and its index entry
(issue 18): the one pass gives byte for byte what the two separate ones give, so
datasets ingested before still join and the gate still finds raw identifiers."""

from __future__ import annotations

import hmac
import sys

import pandas as pd
import pyarrow as pa
import pytest

from catalog.desensitize import LAST_SPACE, pseudonymize, python_stripped
from catalog.identifiers import (
    hashed_together,
    identifier_digests,
    pseudonyms_and_digests,
    sorted_distinct,
)
from catalog.keyed_hash import KeyedHash, digest_pairs
from catalog.schema import parse_schema
from tests.catalog.test_identifier_hashing import KEYS, MESSAGES

TEXTS = [
    "9133020000000001",
    " 9133020000000001 ",
    "张三丰",
    " 张三丰\u3000",  # an ideographic space is trimmed too
    "",
    "   ",
    "\x1f",  # Python counts the unit separator as whitespace
    "a\x00b",
    'it\'s "quoted", with a comma',
    "é" * 300,
    "x" * 5000,
    "line\nbreak",
    None,
]


@pytest.mark.parametrize("key", KEYS[1:], ids=[f"key{len(k)}" for k in KEYS[1:]])
def test_a_prefixed_hash_and_hash_pairs_equal_hmac_sha256(key: bytes) -> None:
    other = b"other " + key
    pairs = digest_pairs(KeyedHash(key), KeyedHash(other).after(b"id\x00"), MESSAGES, (16, 7))
    assert pairs == (
        b"".join(hmac.digest(key, m, "sha256")[:16] for m in MESSAGES),
        b"".join(hmac.digest(other, b"id\x00" + m, "sha256")[:7] for m in MESSAGES),
    )
    assert KeyedHash(key).after(b"").digests(MESSAGES) == KeyedHash(key).digests(MESSAGES)


def test_one_pass_gives_the_pseudonyms_and_index_entries_of_two() -> None:
    schema = parse_schema(
        {
            "dataset": "people",
            "privacy_unit": "pid",
            "columns": [
                {"name": "pid", "type": "string", "level": "L3", "role": "identifier",
                 "desensitize": "pseudonymize"},
            ],
        }
    )  # fmt: skip
    assert hashed_together(schema) == ["pid"]
    key = b"domain key " * 3
    values = pd.Series([*TEXTS, *TEXTS[::-1]], dtype="string")
    names, digests = pseudonyms_and_digests(values, key)
    expected = pseudonymize(values, key)
    assert names.dtype == expected.dtype and names.index.equals(expected.index)
    assert names.isna().tolist() == expected.isna().tolist()
    assert names.dropna().tolist() == expected.dropna().tolist()
    frame = pd.DataFrame({"pid": values})
    assert sorted_distinct(digests).tobytes() == identifier_digests(frame, schema, key).tobytes()
    assert identifier_digests(frame, schema, key, done=["pid"]).size == 0
    for empty in (pd.Series([None, None], dtype="string"), pd.Series([], dtype="string")):
        names, digests = pseudonyms_and_digests(empty, key)
        assert names.isna().all() and len(names) == len(empty) and digests.size == 0


def test_no_character_above_the_last_space_is_whitespace_to_python() -> None:
    above = [c for c in map(chr, range(LAST_SPACE + 1, sys.maxunicode + 1)) if c.isspace()]
    assert above == [] and chr(LAST_SPACE).isspace()


def test_arrow_trimming_strips_exactly_what_str_strip_does() -> None:
    spaces = [c for c in map(chr, range(LAST_SPACE + 1)) if c.isspace()]
    texts = [f"{s}a{s}b{s}" for s in spaces] + [s * 3 for s in spaces]
    texts += ["plain", "", "张三丰", "a\u200bb\u200b", "\x1e9133\x1c", "$^[]\\", "x\n"]
    trimmed = python_stripped(pa.array(texts, type=pa.large_string()))
    assert trimmed.to_pylist() == [t.strip() for t in texts]
    untouched = pa.array(["a", "b c"], type=pa.large_string())
    assert python_stripped(untouched) is untouched


def test_trimming_screens_by_edge_bytes_and_misses_no_space() -> None:
    """The byte screen may let through text with no space at an edge (张三 ends in a byte
    U+2000's UTF-8 ends in too) but never holds back one that has: 20,000 random texts of
    ASCII, Chinese and every kind of space, whole and sliced, trim as `str.strip()` does."""
    import random

    spaces = [c for c in map(chr, range(LAST_SPACE + 1)) if c.isspace()]
    letters = [*"abc019 -_", *"张三丰王", "\u00e9", "\u2010", "\u3001", *spaces]
    rng = random.Random(18)
    texts = ["".join(rng.choices(letters, k=rng.randint(0, 6))) for _ in range(20_000)]
    array = pa.array(texts, type=pa.large_string())
    assert python_stripped(array).to_pylist() == [t.strip() for t in texts]
    part = array.slice(7_001, 5_000)  # offsets that start inside the buffers
    assert python_stripped(part).to_pylist() == [t.strip() for t in texts[7_001:12_001]]
    with_nulls = pa.array([" a", None, "b "], type=pa.large_string())
    assert python_stripped(with_nulls).to_pylist() == ["a", None, "b"]


def test_a_column_in_the_readers_chunks_is_hashed_as_one_piece() -> None:
    """Arrow's CSV reader hands a batch over in chunks: hashed chunk by chunk (nothing
    joined), the pseudonyms and entries equal those of the same values in one array."""
    key = b"domain key " * 3
    values = [*TEXTS, *TEXTS[::-1]]
    pieces = pa.chunked_array([values[:4], [], values[4:9], values[9:]], type=pa.large_string())
    chunked = pd.Series(pd.arrays.ArrowStringArray(pieces), dtype="string")
    whole = pd.Series(values, dtype="string")
    names, digests = pseudonyms_and_digests(chunked, key)
    expected_names, expected_digests = pseudonyms_and_digests(whole, key)
    assert names.tolist() == expected_names.tolist() == pseudonymize(whole, key).tolist()
    assert digests.tobytes() == expected_digests.tobytes()
    trimmed = python_stripped(pa.chunked_array([[" a", "b"], ["c\u3000"]], pa.large_string()))
    assert trimmed.to_pylist() == ["a", "b", "c"]
