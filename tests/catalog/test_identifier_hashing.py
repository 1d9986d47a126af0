"""The fast keyed hash gives exactly the digests of `hmac`, so pseudonyms and identifier
index entries made by a faster ingest are the same values as before: datasets ingested
earlier still join with new ones, and the gate still finds raw identifiers; an index
spilled batch by batch is the whole file's index."""

from __future__ import annotations

import hmac

import numpy as np
import pandas as pd
import pytest

from catalog.desensitize import pseudonym, pseudonymize
from catalog.identifiers import (
    COMBINATION_TAG,
    IDENTIFIER_TAG,
    identifier_digests,
    index_key,
    sorted_distinct,
    tagged_digest,
)
from catalog.keyed_hash import KeyedHash
from catalog.schema import parse_schema

KEYS = [b"", b"k", b"\x00" * 32, bytes(range(64)), bytes(range(65)), b"long key " * 30]
MESSAGES = [b"", b"9133020000000001", "张三丰".encode(), b"\x00\xff" * 100, b"x" * 1000]


@pytest.mark.parametrize("key", KEYS, ids=[f"key{len(k)}" for k in KEYS])
def test_keyed_hash_equals_hmac_sha256(key: bytes) -> None:
    hasher = KeyedHash(key)
    expected = [hmac.digest(key, m, "sha256") for m in MESSAGES]
    assert [hasher.digest(m) for m in MESSAGES] == expected
    assert hasher.digests(MESSAGES) == b"".join(expected)
    assert hasher.digests(MESSAGES, 5) == b"".join(d[:5] for d in expected)


def test_pseudonyms_are_the_values_pseudonym_gives_one_by_one() -> None:
    key = b"domain key " * 3
    raw = pd.Series(
        ["9133 ", " 9133", "9133", None, "张三", "", "a\tb", "9133", None], dtype="string"
    )
    result = pseudonymize(raw, key)
    expected = [None if pd.isna(v) else pseudonym(v.strip(), key) for v in raw.tolist()]
    assert [None if pd.isna(v) else v for v in result.tolist()] == expected
    assert result[0] == result[1] == result[2] != result[4]
    numbers = pseudonymize(pd.Series([7.0, 7.0, None]), key)
    assert numbers[0] == numbers[1] == pseudonym("7", key) and pd.isna(numbers[2])


def test_index_digests_are_the_tagged_hmacs_sorted_and_distinct() -> None:
    schema = parse_schema(
        {
            "dataset": "people",
            "privacy_unit": "pid",
            "columns": [
                {"name": "pid", "type": "string", "level": "L3", "role": "identifier",
                 "desensitize": "pseudonymize"},
                {"name": "born", "type": "integer", "level": "L2", "role": "quasi_identifier"},
                {"name": "zip", "type": "string", "level": "L2", "role": "quasi_identifier"},
            ],
        }
    )  # fmt: skip
    frame = pd.DataFrame(
        {
            "pid": pd.Series([" p1", "p1", "p2", "", None], dtype="string"),
            "born": pd.Series([1980, 1980, 1990, 1990, 2000], dtype="Int64"),
            "zip": pd.Series(["315000", "315000", "315100", "315100", None], dtype="string"),
        }
    )
    key = b"k" * 32
    derived = index_key(key)
    expected = {tagged_digest(derived, IDENTIFIER_TAG, t) for t in ("p1", "p2")}
    expected |= {
        tagged_digest(derived, COMBINATION_TAG, t)
        for t in ("1980\x1f315000", "1990\x1f315100", "2000\x1f")
    }
    body = identifier_digests(frame, schema, key).tobytes()
    assert [body[i : i + 16].hex() for i in range(0, len(body), 16)] == sorted(expected)


def test_sorted_distinct_keeps_trailing_zero_bytes() -> None:
    values = np.array([b"\x02" + b"\x00" * 15, b"\x01" * 16, b"\x02" + b"\x00" * 15], dtype="S16")
    result = sorted_distinct(values)
    assert [len(v) for v in result.tobytes().split(b"\x01" * 16)] == [0, 16]


def test_a_spilled_index_is_the_index_of_all_batches_and_leaves_nothing(tmp_path) -> None:
    from catalog.identifiers import IndexSpill, load_index

    rng = np.random.default_rng(7)
    batches = [rng.integers(0, 256, size=(n, 16), dtype=np.uint8) for n in (500, 1, 0, 300)]
    batches.append(batches[0][:50])  # repeats across batches count once
    as_digests = [np.frombuffer(b.tobytes(), dtype="S16") for b in batches]
    spill = IndexSpill(tmp_path / "spill")
    for digests in as_digests:
        spill.add(digests)
    assert spill.write(tmp_path / "identifiers.bin") == 801
    whole = np.concatenate(as_digests).tobytes()
    expected = {whole[i : i + 16].hex() for i in range(0, len(whole), 16)}
    assert load_index(tmp_path / "identifiers.bin") == expected
    raw = (tmp_path / "identifiers.bin").read_bytes()[8:]
    assert [raw[i : i + 16] for i in range(0, len(raw), 16)] == sorted(
        bytes.fromhex(h) for h in expected
    )
    assert not (tmp_path / "spill").exists()


def test_an_index_read_in_place_answers_as_the_set_it_holds(tmp_path) -> None:
    """The gate reads an index file in place (a binary search over the mapped file)
    instead of building a set of every digest; it must answer exactly as that set:
    digests ending in zero bytes (which NumPy's bytes drop), the first and the last,
    neighbours that are not members, and text that is no digest at all."""
    from catalog.identifiers import AnyIndex, IndexSpill, load_index

    rng = np.random.default_rng(11)
    body = rng.integers(0, 256, size=(2000, 16), dtype=np.uint8)
    body[:40, 8:] = 0  # digests ending in zero bytes
    body[40] = 0  # the lowest possible digest
    body[41] = 255  # the highest
    spill = IndexSpill(tmp_path / "spill")
    spill.add(np.frombuffer(body.tobytes(), dtype="S16"))
    spill.write(tmp_path / "identifiers.bin")
    members = {bytes(row).hex() for row in body}
    index = load_index(tmp_path / "identifiers.bin")
    assert len(index) == len(members) and set(index) == members
    assert all(m in index for m in members)
    near = {(int(m, 16) + step) % 2**128 for m in members for step in (-1, 1)}
    outsiders = {f"{n:032x}" for n in near} - members
    assert outsiders and not any(o in index for o in outsiders)
    for junk in ("", "zz" * 16, members.pop()[:30], b"\x00" * 16, None, 7):
        assert junk not in index
    empty = tmp_path / "empty.bin"
    IndexSpill(tmp_path / "spill2").write(empty)
    assert len(load_index(empty)) == 0 and next(iter(outsiders)) not in load_index(empty)
    both = AnyIndex([load_index(empty), index])
    assert all(m in both for m in list(index)[:50]) and not any(o in both for o in outsiders)
    assert {next(iter(index))} & index == {next(iter(index))}
