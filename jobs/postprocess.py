"""Public post-processing: the operator's query above the core, over released values only.

Runs after the gate and the noise, in an in-process DuckDB that holds nothing but
the released core table (`__released`): no files, no extensions, no settings can
be changed. Whatever it computes, the operator could compute from the release.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pandas as pd

from policies.split import RELEASED

POST_SECONDS = 30.0
POST_MEMORY = "512MB"
MAX_POST_ROWS = 1_000_000


class PostProcessingFailed(Exception):
    """Post-processing broke on released values; the message names only the cause kind."""


def post_process(released: pd.DataFrame, sql: str) -> pd.DataFrame:
    """Run `sql` over `released` alone, under a time, memory and row budget."""
    connection = duckdb.connect(
        config={
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "memory_limit": POST_MEMORY,
            "threads": 1,
        }
    )
    timer = threading.Timer(POST_SECONDS, connection.interrupt)
    try:
        connection.register(RELEASED, released)
        connection.execute("SET lock_configuration = true")
        timer.start()
        result = connection.execute(sql)
        table = result.fetch_df_chunk(MAX_POST_ROWS // 2048 + 1)
        if len(table) > MAX_POST_ROWS:
            raise PostProcessingFailed(f"more than {MAX_POST_ROWS} rows")
        return table
    except duckdb.InterruptException:
        raise PostProcessingFailed(f"took longer than {POST_SECONDS:g} s") from None
    except duckdb.Error as exc:
        raise PostProcessingFailed(type(exc).__name__) from None
    finally:
        timer.cancel()
        connection.close()


def post_process_file(path: Path, sql: str, keep_core_as: Path) -> None:
    """Replace the released core table at `path` by its post-processed form; the core
    table stays inside the domain at `keep_core_as` for the reviewers."""
    released = pd.read_csv(path)
    table = post_process(released, sql)
    keep_core_as.parent.mkdir(parents=True, exist_ok=True)
    path.replace(keep_core_as)
    table.to_csv(path, index=False)
