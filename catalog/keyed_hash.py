"""HMAC-SHA256 with the key's inner and outer states computed once (RFC 2104).

`hmac.digest` sets the key up again on every call (OpenSSL 3 also looks the digest
up each time), which made hashing identifiers most of an ingest's time. Copying two
prepared SHA-256 states gives the very same digests at a fraction of the cost; for
many messages at once the C loop in `_hmac_batch` does it ~10x faster again. Built at
install where a compiler and OpenSSL's headers exist; without it the loop below runs,
to the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeAlias

import pyarrow as pa

try:
    from catalog import _hmac_batch
except ImportError:  # pragma: no cover - the extension is optional at install
    _hmac_batch = None  # type: ignore[assignment]

BLOCK_BYTES = 64  # SHA-256's block size
DIGEST_BYTES = 32
OFFSET_BYTES = 8  # a large_binary offset is an int64
INNER_PAD, OUTER_PAD = 0x36, 0x5C
COMPILED = _hmac_batch is not None
# Messages as Python bytes, or packed in an Arrow binary or text array with no nulls
# (hashed from its buffers, with no Python object per message), whole or in chunks.
Messages: TypeAlias = Sequence[bytes] | pa.Array | pa.ChunkedArray


class KeyedHash:
    """HMAC-SHA256 under one key; `digest(m)` equals `hmac.digest(key, m, "sha256")`."""

    def __init__(self, key: bytes, prefix: bytes = b"") -> None:
        self.key, self.prefix = key, prefix
        if len(key) > BLOCK_BYTES:
            key = hashlib.sha256(key).digest()
        padded = key.ljust(BLOCK_BYTES, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ INNER_PAD for b in padded))
        self._inner.update(prefix)
        self._outer = hashlib.sha256(bytes(b ^ OUTER_PAD for b in padded))

    def after(self, prefix: bytes) -> KeyedHash:
        """The same key with `prefix` already taken in: `digest(m)` is then the HMAC of
        `prefix + m`, without joining the two for every message."""
        return KeyedHash(self.key, self.prefix + prefix)

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def digests(self, messages: Messages, size: int = DIGEST_BYTES) -> bytes:
        """Every message's digest cut to `size` bytes, joined in message order."""
        return truncated_digests((self,), messages, (size,))[0]


def digest_pairs(
    first: KeyedHash, second: KeyedHash, messages: Messages, sizes: tuple[int, int]
) -> tuple[bytes, bytes]:
    """Both keyed hashes of every message, cut to `sizes` bytes and joined in
    message order: one loop instead of two passes over the same messages (at ingest, a
    pseudonym and an identifier-index entry per distinct identifier)."""
    ones, twos = truncated_digests((first, second), messages, sizes)
    return ones, twos


def truncated_digests(
    hashes: Sequence[KeyedHash], messages: Messages, sizes: Sequence[int]
) -> tuple[bytes, ...]:
    """For each keyed hash, every message's digest cut to its size, joined in order."""
    if not all(1 <= size <= DIGEST_BYTES for size in sizes):
        raise ValueError(f"a digest keeps 1 to {DIGEST_BYTES} bytes, not {list(sizes)}")
    if isinstance(messages, pa.ChunkedArray):
        parts = [truncated_digests(hashes, chunk, sizes) for chunk in messages.chunks]
        return tuple(b"".join(part[i] for part in parts) for i in range(len(hashes)))
    packed = _as_binary(messages) if isinstance(messages, pa.Array) else None
    if _hmac_batch is None:
        texts = packed.to_pylist() if packed is not None else messages
        return tuple(_in_python(h, texts, size) for h, size in zip(hashes, sizes, strict=True))
    specs = [(h.key, h.prefix, size) for h, size in zip(hashes, sizes, strict=True)]
    if packed is None:
        return tuple(_hmac_batch.many(messages, specs))
    _, offsets, data = packed.buffers()
    at = offsets.slice(packed.offset * OFFSET_BYTES, (len(packed) + 1) * OFFSET_BYTES)
    return tuple(_hmac_batch.many_packed(at, data if data is not None else b"", specs))


def _as_binary(messages: pa.Array) -> pa.LargeBinaryArray:
    if messages.null_count:
        raise ValueError("a null cannot be hashed: leave nulls out before hashing")
    return messages.cast(pa.large_binary())


def _in_python(hasher: KeyedHash, messages: Sequence[bytes], size: int) -> bytes:
    """The same digests without the extension, in a tight loop (the per-call overhead
    is most of the cost)."""
    inner_copy, outer_copy = hasher._inner.copy, hasher._outer.copy
    found = []
    for message in messages:
        inner = inner_copy()
        inner.update(message)
        outer = outer_copy()
        outer.update(inner.digest())
        found.append(outer.digest()[:size])
    return b"".join(found)
