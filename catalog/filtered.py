"""Filtered copies of the store: the only rows of a dataset a license's jobs may read.

A license's row filter (行范围) is applied to the data, not to the query: a job is
given a Parquet file holding just the rows its license allows, so nothing it runs
can widen the filter. Copies are cached per license, dataset version and filter.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import duckdb
from sqlglot import exp

from catalog.records import Dataset
from catalog.row_filter import DIALECT, filter_digest
from core.errors import InvalidInput
from core.home import Home

DIGEST_CHARS = 16


def filtered_path(home: Home, license_id: int, record: Dataset, predicate: exp.Expr) -> Path:
    """Where the copy for this license, dataset version and filter lives."""
    digest = filter_digest(predicate)[:DIGEST_CHARS]
    folder = home.filtered / f"license-{license_id}" / record.name
    return folder / f"v{record.version}-{digest}.parquet"


def filtered_file(home: Home, license_id: int, record: Dataset, predicate: exp.Expr) -> Path:
    """The dataset's rows that satisfy `predicate`, as a Parquet file made once and reused.

    A copy for an older version or filter of the same license and dataset is removed
    when a new one is made; a job that already mounted it keeps reading its own.
    """
    target = filtered_path(home, license_id, record, predicate)
    if target.exists():
        return target
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    for parent in (home.filtered, folder.parent, folder):
        os.chmod(parent, 0o755)  # sandboxes read their data as an unprivileged user
    handle, staging = tempfile.mkstemp(prefix=".building-", suffix=".parquet", dir=folder)
    os.close(handle)
    try:
        _copy_rows(record.data_path(home), predicate, Path(staging), record.name)
        os.chmod(staging, 0o644)
        os.replace(staging, target)  # whole or not at all, even with two jobs racing
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    for stale in folder.glob("v*.parquet"):
        if stale != target:
            stale.unlink(missing_ok=True)
    return target


def _copy_rows(source: Path, predicate: exp.Expr, target: Path, dataset: str) -> None:
    # the predicate is a checked tree (catalog.row_filter), rendered with every name quoted
    where = predicate.sql(DIALECT, identify=True)
    query = f"SELECT * FROM read_parquet({_literal(source)}) WHERE {where}"
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET threads = 1")
        con.execute(f"COPY ({query}) TO {_literal(target)} (FORMAT parquet)")
    except duckdb.Error:
        # the engine's message may quote stored values; say only which filter failed
        raise InvalidInput.coded("catalog_filter_types", dataset=dataset) from None
    finally:
        con.close()


def _literal(path: Path) -> str:
    return exp.Literal.string(str(path)).sql(DIALECT)
