"""Work a page starts and then watches: a thread per run, and the run's latest record.

A run's record is a frozen dataclass with a `state` ("running" while it works); the
thread replaces it as the work progresses and when it ends, and pages (and the poll
script, static/poll.js) read it. Records live in the server's memory: they say how
work started by this server went, while what the work changed is in the database and
the audit log.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["Runs"]


class Record(Protocol):
    @property
    def state(self) -> str: ...


R = TypeVar("R", bound=Record)


class Runs(Generic[R]):
    """Records of background runs by key, safe to read and replace from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, R] = {}

    def get(self, key: str) -> R | None:
        with self._lock:
            return self._records.get(key)

    def update(self, key: str, **changes: Any) -> None:
        """Replace some fields of a run's record (its progress, say)."""
        with self._lock:
            self._records[key] = replace(self._records[key], **changes)  # type: ignore[type-var]

    def start(
        self,
        key: str,
        first: R,
        work: Callable[[], R],
        failed: Callable[[Exception], R],
        clashes: Callable[[R], bool] = lambda _other: False,
    ) -> R:
        """Record `first` and run `work` in a thread; its result (or `failed(error)`, if it
        raised) becomes the run's last record. If a run under `key`, or one `clashes`
        accepts, is still running, nothing starts and that run's record is returned."""
        with self._lock:
            for other_key, other in self._records.items():
                if other.state == "running" and (other_key == key or clashes(other)):
                    return other
            self._records[key] = first

        def run() -> None:
            try:
                last = work()
            except Exception as error:  # noqa: BLE001  a failed run is shown, never lost
                last = failed(error)
            with self._lock:
                self._records[key] = last

        threading.Thread(target=run, name=f"sluice-{key}"[:60], daemon=True).start()
        return first
