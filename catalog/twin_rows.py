"""How many rows a synthetic twin may have. Apart from `catalog.twin` so that the CLI's
and the API's option defaults read them without loading pandas and pyarrow."""

from __future__ import annotations

DEFAULT_ROWS = 1000
MAX_ROWS = 200_000  # about six seconds of one core; a download holds a worker that long
