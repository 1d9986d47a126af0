"""Types of the compiled keyed-hash loop (catalog/_hmac_batch.c)."""

from collections.abc import Sequence

from typing_extensions import Buffer

KeySpec = tuple[bytes, bytes, int]  # key, prefix taken in before each message, bytes kept

def many(messages: Sequence[bytes], keys: Sequence[KeySpec]) -> tuple[bytes, ...]: ...
def many_packed(offsets: Buffer, data: Buffer, keys: Sequence[KeySpec]) -> tuple[bytes, ...]: ...
