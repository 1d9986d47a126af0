"""Reading the next batch of a file while the current one is desensitized and written.

Parsing a CSV batch (Arrow's reader) and typing and hashing the previous one (Arrow's
compute, the compiled keyed hash) each spend much of their time outside the GIL, so on
two cores an ingest runs both at once. One batch waits at most, so
memory grows by one batch, not with the file.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

Item = TypeVar("Item")
_DONE = object()


def read_ahead(
    items: Iterator[Item], name: str = "sluice-read-ahead"
) -> Generator[Item, None, None]:
    """`items` in order, the next produced on a thread while the caller uses this one.

    An error raised while producing is raised here, where that item would have come.
    A caller that stops early (an exception, a refused batch) ends the thread at its
    next item; it never keeps more than one item beyond the one in use."""
    ready: queue.Queue[object] = queue.Queue(maxsize=1)
    stopped = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _offer(ready, stopped, item):
                    return
            _offer(ready, stopped, _DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer
            _offer(ready, stopped, _Failed(error))

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stopped.set()
        thread.join()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def _offer(ready: queue.Queue[object], stopped: threading.Event, item: object) -> bool:
    """Put `item` once there is room; False if the consumer has stopped meanwhile."""
    while not stopped.is_set():
        try:
            ready.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
