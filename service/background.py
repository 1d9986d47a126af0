"""Work a request starts and then returns: a thread per run, beating while it works.

The run's record lives in the database (its package owns the table), so any server
process, and a restarted one, reads how it goes; this module only runs the work and
keeps touching the record, so a run whose process died is told from a slow one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from core.runs import BEAT_SECONDS

__all__ = ["at_most_every", "run_in_background"]


def run_in_background(
    name: str,
    work: Callable[[], None],
    failed: Callable[[Exception], None],
    beat: Callable[[], None],
    every: float = BEAT_SECONDS,
) -> None:
    """Run `work` in a daemon thread (`failed(error)` if it raises) and call `beat` every
    `every` seconds until it ends."""
    ended = threading.Event()

    def beating() -> None:
        while not ended.wait(every):
            try:
                beat()
            except Exception:  # noqa: BLE001, S110  the next beat tries again; a run silent too long reads as interrupted
                pass

    def run() -> None:
        try:
            work()
        except Exception as error:  # noqa: BLE001  a failed run is shown, never lost
            failed(error)
        finally:
            ended.set()

    threading.Thread(target=beating, name=f"sluice-beat-{name}"[:60], daemon=True).start()
    threading.Thread(target=run, name=f"sluice-{name}"[:60], daemon=True).start()


def at_most_every(seconds: float, report: Callable[..., None]) -> Callable[..., None]:
    """`report`, skipping calls that come sooner than `seconds` after the last one made
    (progress heard per batch need not be a database write per batch)."""
    last = [float("-inf")]

    def throttled(*figures: int) -> None:
        now = time.monotonic()
        if now - last[0] >= seconds:
            last[0] = now
            report(*figures)

    return throttled
