"""Canonical JSON (RFC 8785, JCS) for entries, with a fast path for the common shapes.

The `rfc8785` package is the reference; for values where Python's own JSON encoder
already writes JCS bytes (ASCII keys, safe integers, floats Python and ECMAScript
print alike) the C encoder is used, because verification canonicalises every entry.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import rfc8785

_SAFE_INT = 2**53
# Within this range of magnitudes Python's repr and ECMAScript's Number::toString
# agree on digits and notation for non-integral floats.
_FLOAT_LOW, _FLOAT_HIGH = 1e-4, 1e16


def json_safe(value: Any) -> Any:
    """Tuples become lists, keys strings, and whole floats ints (as JCS would print them);
    typed strings (enum members, job failures) become the plain text they stand for."""
    if isinstance(value, str):
        return value if type(value) is str else str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < _SAFE_INT:
        return int(value)
    return value


def _plain(value: Any) -> bool:
    """True when Python's encoder already writes this value exactly as JCS does."""
    if type(value) is dict and _flat_plain(value):
        return True
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is dict:
            for key in item:
                if type(key) is not str or not key.isascii():
                    return False
            stack.extend(item.values())
        elif kind is int:
            if not -_SAFE_INT < item < _SAFE_INT:
                return False
        elif kind is list:
            stack.extend(item)
        elif kind is float:
            if not (_FLOAT_LOW <= abs(item) < _FLOAT_HIGH and not item.is_integer()):
                return False
        else:
            return False
    return True


def _flat_plain(value: dict[Any, Any]) -> bool:
    """True for a dict of ASCII keys and strings, booleans, nulls and safe integers: the
    usual details, settled without the general walk (False means: walk it)."""
    for key, item in value.items():
        if type(key) is not str or not key.isascii():
            return False
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is not int or not -_SAFE_INT < item < _SAFE_INT:
            return False
    return True


def _make_encoder() -> Callable[[Any], str]:
    c_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_encoder is None:  # no C accelerator: the documented, slower way
        return functools.partial(
            json.dumps, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    iterencode = c_encoder(
        None, None, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )
    return lambda value: "".join(iterencode(value, 0))


_encode = _make_encoder()
_string: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]


def canonical(value: Any) -> bytes:
    """The RFC 8785 bytes of a JSON value."""
    if _plain(value):
        return _encode(value).encode("utf-8")
    return rfc8785.dumps(value)


_ENTRY_KEYS = ("action", "actor", "at", "details", "prev_hash", "role", "seq", "subject")
_ENTRY_STRINGS = ("action", "actor", "at", "prev_hash", "role", "subject")


def canonical_entry(entry: dict[str, Any]) -> bytes:
    """`canonical(entry)` for an entry without its own hash, skipping the generic walk
    over fields whose types are known (the hot path of verifying a large log)."""
    seq = entry.get("seq")
    if len(entry) != len(_ENTRY_KEYS) or type(seq) is not int or not -_SAFE_INT < seq < _SAFE_INT:
        return canonical(entry)
    for key in _ENTRY_STRINGS:
        if type(entry.get(key)) is not str:
            return canonical(entry)
    if not _plain(entry["details"]):
        return canonical(entry)
    return _entry_bytes(
        seq,
        entry["at"],
        entry["actor"],
        entry["role"],
        entry["action"],
        entry["subject"],
        entry["details"],
        entry["prev_hash"],
    )


def canonical_fields(
    seq: Any,
    at: Any,
    actor: Any,
    role: Any,
    action: Any,
    subject: Any,
    details: Any,
    prev_hash: Any,
) -> bytes:
    """`canonical_entry` of the entry with these fields, without building its dict first
    (verifying the live store reads them from a row)."""
    plain = type(seq) is int and -_SAFE_INT < seq < _SAFE_INT
    for value in (at, actor, role, action, subject, prev_hash):
        plain = plain and type(value) is str
    if plain and _plain(details):
        return _entry_bytes(seq, at, actor, role, action, subject, details, prev_hash)
    fields = (seq, at, actor, role, action, subject, details, prev_hash)
    return canonical(dict(zip(_FIELD_ORDER, fields, strict=True)))


_FIELD_ORDER = ("seq", "at", "actor", "role", "action", "subject", "details", "prev_hash")


def _entry_bytes(
    seq: int, at: str, actor: str, role: str, action: str, subject: str, details: Any, prev: str
) -> bytes:
    """The JCS bytes of an entry whose fields are known to be plain (keys in JCS order)."""
    text = _string
    return (
        f'{{"action":{text(action)},"actor":{text(actor)},"at":{text(at)},'
        f'"details":{_encode(details)},"prev_hash":{text(prev)},"role":{text(role)},'
        f'"seq":{seq},"subject":{text(subject)}}}'
    ).encode()
