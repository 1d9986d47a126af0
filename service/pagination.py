"""Cursor pagination for every list the API answers: `?limit=&cursor=` in, a `Page`
(`items` and `next_cursor`) out. One helper, as the audit log pages: by a key that only
grows (a sequence, an id, a name), never by offset, so a page does not shift when
records are added before it.

The cursor is opaque to clients: base64url of the last key shown and the list's
direction. It carries no secret and no filter; a client sends the same filters again.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict

from core.errors import InvalidInput

__all__ = ["Cursor", "Key", "Page", "PageLimit", "decode_cursor", "page_of", "paginate"]

T = TypeVar("T")
Key = int | str
PageLimit = Annotated[int, Query(ge=1, le=1000, description="most items in one page")]
Cursor = Annotated[
    str | None,
    Query(
        max_length=200,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="next_cursor of the previous page; absent for the first page",
    ),
]


class Page(BaseModel, Generic[T]):
    """One page of a list; `next_cursor` is null on the last page."""

    model_config = ConfigDict(extra="forbid")

    items: list[T]
    next_cursor: str | None


def encode_cursor(key: Key, newest_first: bool = False) -> str:
    raw = json.dumps({"k": key, "d": int(newest_first)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(
    cursor: str | None, newest_first: bool = False, kind: type[Key] | None = None
) -> Key | None:
    """The last key shown, or None for a first page; a cursor from another list is refused."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        key = data["k"]
        same_direction = data["d"] == int(newest_first)
    except (binascii.Error, ValueError, KeyError, TypeError):
        key, same_direction = None, False
    wanted = kind or (int, str)
    if not isinstance(key, wanted) or isinstance(key, bool) or not same_direction:
        raise InvalidInput.coded("svc_cursor_foreign")
    return key


def page_of(fetched: Sequence[T], key: Callable[[T], Key], limit: int) -> Page[T]:
    """A page from up to limit + 1 records fetched past the cursor (the extra one says
    whether another page follows)."""
    shown = list(fetched[:limit])
    more = len(fetched) > limit and shown
    return Page[T](items=shown, next_cursor=encode_cursor(key(shown[-1])) if more else None)


def paginate(
    items: Iterable[T],
    key: Callable[[T], Key],
    limit: int,
    cursor: str | None,
    newest_first: bool = False,
    kind: type[Key] = int,
) -> Page[T]:
    """A page of a list held in memory, ordered by `key` (descending if newest_first);
    `kind` is the key's type (ids are ints; a name is a str)."""
    after = decode_cursor(cursor, newest_first, kind)
    ordered = sorted(items, key=key, reverse=newest_first)  # type: ignore[arg-type]
    if after is not None:
        ordered = [i for i in ordered if _past(key(i), after, newest_first)]
    shown = ordered[:limit]
    more = len(ordered) > limit
    next_cursor = encode_cursor(key(shown[-1]), newest_first) if more else None
    return Page[T](items=shown, next_cursor=next_cursor)


def _past(value: Key, after: Key, newest_first: bool) -> bool:
    return value < after if newest_first else value > after  # type: ignore[operator]
