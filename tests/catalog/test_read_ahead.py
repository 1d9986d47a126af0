"""Ingest reads the next batch on a thread while it writes the current one (issue 18):
batches come in order, a read error surfaces where its batch would have, and an ingest
that stops early leaves no thread behind and reads at most one batch ahead."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog import ingest
from catalog.ingest import BATCH_ROWS
from catalog.read_ahead import read_ahead
from catalog.schema import parse_schema
from core.errors import InvalidInput
from service.domain import Domain
from tests.conftest import AUTHORITY


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


def test_an_ingest_refusing_a_later_batch_names_its_first_bad_value(
    tmp_path: Path, domain: Domain
) -> None:
    schema = parse_schema(
        {
            "dataset": "meters",
            "privacy_unit": "meter_id",
            "columns": [
                {
                    "name": "meter_id",
                    "type": "string",
                    "level": "L3",
                    "role": "identifier",
                    "desensitize": "pseudonymize",
                },
                {
                    "name": "kwh",
                    "type": "double",
                    "level": "L2",
                    "role": "measure",
                    "bounds": [0, 100],
                },
            ],
        }
    )
    rows = BATCH_ROWS * 2 + 10
    lines = [f"m{i},{i % 100}" for i in range(rows)]
    lines[BATCH_ROWS + 7] = "m-bad,not a number"
    source = tmp_path / "meters.csv"
    source.write_text("meter_id,kwh\n" + "\n".join(lines) + "\n", "utf-8")
    with pytest.raises(InvalidInput) as refused, domain.transaction() as session:
        ingest(session, domain.home, source, schema, AUTHORITY)
    where = f"row {BATCH_ROWS + 8} (line {BATCH_ROWS + 9} of the file): 'not a number'"
    assert where in str(refused.value)
    assert _threads("sluice-read-ahead") == []
