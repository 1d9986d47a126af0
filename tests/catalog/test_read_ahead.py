"""Ingest reads the next batch on a thread while it writes the current one (issue 18):
batches come in order, a read error surfaces where its batch would have, and an ingest
that stops early leaves no thread behind and reads at most one batch ahead
(tests/catalog/test_csv_batches.py has an ingest refusing a later batch)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from catalog.read_ahead import read_ahead


def _counted(limit: int, seen: list[int], fail_at: int | None = None) -> Iterator[int]:
    for number in range(limit):
        if number == fail_at:
            raise OSError(f"unreadable at batch {number}")
        seen.append(number)
        yield number


def _threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


def test_every_item_comes_in_order() -> None:
    seen: list[int] = []
    assert list(read_ahead(_counted(1000, seen), name="t-order")) == list(range(1000))
    assert _threads("t-order") == []


def test_a_read_error_surfaces_after_the_batches_before_it() -> None:
    got = []
    with pytest.raises(OSError, match="unreadable at batch 3"):
        for item in read_ahead(_counted(10, [], fail_at=3), name="t-error"):
            got.append(item)
    assert got == [0, 1, 2]
    assert _threads("t-error") == []


def test_a_consumer_that_stops_early_ends_the_thread_one_batch_ahead_at_most() -> None:
    seen: list[int] = []
    ahead = read_ahead(_counted(10_000, seen), name="t-stop")
    assert [next(ahead) for _ in range(3)] == [0, 1, 2]
    ahead.close()
    assert _threads("t-stop") == []
    # the three used, one waiting in the queue, one produced but never handed over
    assert len(seen) <= 5
