"""The compiled keyed-hash loop (catalog/_hmac_batch.c) gives exactly `hmac`'s digests,
so an ingest on a host with the extension writes the same pseudonyms and index entries
as one without it: datasets still join whichever host ingested them (issue 18)."""

from __future__ import annotations

import hmac
import random
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from catalog import keyed_hash
from catalog.keyed_hash import KeyedHash, truncated_digests
from tests.catalog.test_identifier_hashing import KEYS
from tests.conftest import require_component


@pytest.fixture
def compiled() -> Any:
    require_component(keyed_hash.COMPILED, "the compiled keyed hash (catalog/_hmac_batch.c)")
    return keyed_hash._hmac_batch


def _messages(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    sizes = [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 5000]  # SHA-256 padding edges
    sizes += [rng.randrange(0, 300) for _ in range(300)]
    texts = [rng.randbytes(size) for size in sizes]
    return texts + ["张三丰\u3000".encode(), b"a\x00b", b"\xff" * 64]


@pytest.mark.parametrize("key", KEYS, ids=[f"key{len(k)}" for k in KEYS])
def test_the_compiled_loop_equals_hmac_for_every_key_prefix_and_size(
    compiled: Any, key: bytes
) -> None:
    messages = _messages(len(key))
    for prefix in (b"", b"id\x00", b"p" * 70):
        for size in (1, 7, 16, 32):
            wanted = b"".join(hmac.digest(key, prefix + m, "sha256")[:size] for m in messages)
            assert compiled.many(messages, [(key, prefix, size)]) == (wanted,)
            assert KeyedHash(key).after(prefix).digests(messages, size) == wanted


def test_two_keys_in_one_loop_equal_the_python_loop(compiled: Any) -> None:
    messages = _messages(7)
    hashes = (KeyedHash(b"pseudonym key"), KeyedHash(b"index key" * 9).after(b"id\x00"))
    found = truncated_digests(hashes, messages, (16, 16))
    assert found == tuple(keyed_hash._in_python(h, messages, 16) for h in hashes)
    assert found[0] != found[1]


def test_no_messages_give_empty_digests(compiled: Any) -> None:
    assert compiled.many([], [(b"k", b"", 16), (b"j", b"", 8)]) == (b"", b"")
    assert KeyedHash(b"k").digests(()) == b""


def test_the_compiled_loop_refuses_what_it_cannot_hash(compiled: Any) -> None:
    with pytest.raises(TypeError, match="message 1 is str, not bytes"):
        compiled.many([b"a", "b"], [(b"k", b"", 16)])
    with pytest.raises(ValueError, match="1 to 32 bytes, not 33"):
        compiled.many([b"a"], [(b"k", b"", 33)])
    with pytest.raises(ValueError, match="between 1 and 4 keys, got 5"):
        compiled.many([b"a"], [(b"k", b"", 16)] * 5)
    with pytest.raises(ValueError, match="1 to 32 bytes"):
        KeyedHash(b"k").digests([b"a"], 0)


def test_without_the_extension_the_python_loop_gives_the_same_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    messages = _messages(3)
    wanted = b"".join(hmac.digest(b"key", b"id\x00" + m, "sha256")[:16] for m in messages)
    monkeypatch.setattr(keyed_hash, "_hmac_batch", None)
    assert KeyedHash(b"key").after(b"id\x00").digests(messages, 16) == wanted


@pytest.mark.parametrize("with_extension", [True, False], ids=["compiled", "python"])
def test_arrow_messages_hash_from_their_buffers_slices_included(
    with_extension: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if with_extension:
        require_component(keyed_hash.COMPILED, "the compiled keyed hash")
    else:
        monkeypatch.setattr(keyed_hash, "_hmac_batch", None)
    texts = ["9133020000000001", "", "张三丰", "a\x00b", "x" * 200] * 8
    hasher = KeyedHash(b"key").after(b"id\x00")
    for array in (pa.array(texts), pa.array(texts, type=pa.large_string())):
        for part in (array, array[7:23], array[3:3], pa.array(["", ""])):
            wanted = b"".join(hasher.digest(t.encode())[:16] for t in part.to_pylist())
            assert hasher.digests(part, 16) == wanted
    with pytest.raises(ValueError, match="a null cannot be hashed"):
        hasher.digests(pa.array(["a", None]))


def test_packed_offsets_outside_the_data_are_refused(compiled: Any) -> None:
    falling = np.array([0, 4, 2], dtype=np.int64)
    beyond = np.array([0, 4, 9], dtype=np.int64)
    for offsets in (falling, beyond):
        with pytest.raises(ValueError, match="offset 2 is outside the data or falls"):
            compiled.many_packed(offsets.tobytes(), b"abcdefgh", [(b"k", b"", 16)])
    with pytest.raises(ValueError, match="count \\+ 1 int64"):
        compiled.many_packed(b"\x00" * 7, b"", [(b"k", b"", 16)])
