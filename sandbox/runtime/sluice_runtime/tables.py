"""The notebook helpers: `dataset(name)` to read, `table(...)` to write a gate-ready table.

`table` groups a frame, computes counts, sums and means, and beside each the
companion statistics the output gate needs (gate/tables.py): `__n` distinct
privacy units per row; per SUM/AVG column c `__top1__c`, `__top2__c` (the two
largest absolute per-unit contributions), `__abs__c` (their absolute total) and
`__sum__c` (the signed total); per AVG column `__cnt__c` (non-null rows). It
writes /out/<name>.parquet and a note the runtime turns into the job's manifest;
any other file in /out is a custom output, which the gate treats strictly.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

TABLE_NOTE_PREFIX = ".sluice-table-"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")
_DATASET = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _out() -> Path:
    return Path(os.environ.get("SLUICE_OUT", "/out"))


def _data() -> Path:
    return Path(os.environ.get("SLUICE_DATA", "/data"))


def dataset(name: str) -> pd.DataFrame:
    """A licensed dataset as this job may see it (for notebooks: columns up to L2)."""
    if not _DATASET.fullmatch(name):
        raise ValueError(f"{name!r} is not a dataset name")
    path = _data() / f"{name}.parquet"
    if not path.exists():
        shown = sorted(p.stem for p in _data().glob("*.parquet"))
        raise FileNotFoundError(f"dataset {name!r} is not mounted; this job has {shown}")
    return pd.read_parquet(path)


def _names(value: str | Iterable[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _check(frame: pd.DataFrame, keys: list[str], unit: str, measures: list[str]) -> None:
    missing = [c for c in [*keys, unit, *measures] if c not in frame.columns]
    if missing:
        raise KeyError(f"columns not in the frame: {missing}")
    if unit in keys:
        raise ValueError(f"the privacy unit {unit!r} cannot be a group key")
    for column in measures:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise TypeError(f"column {column!r} is not numeric")
    for column in [*keys, *measures]:
        if str(column).startswith("__"):
            raise ValueError(f"column {column!r}: names starting with '__' are reserved")


def _contributions(frame: pd.DataFrame, keys: list[str], unit: str, column: str) -> pd.DataFrame:
    """Per group: the largest and second-largest absolute per-unit totals, the absolute
    total and the signed total of `column`."""
    per_unit = frame.groupby([*keys, unit], dropna=False, sort=False)[column].sum()
    size = per_unit.abs().sort_values(ascending=False, kind="stable")
    rank = size.groupby(level=keys, dropna=False, sort=False).cumcount()
    drop = [unit]
    top1 = size[rank.to_numpy() == 0].droplevel(drop)
    top2 = size[rank.to_numpy() == 1].droplevel(drop)
    grouped = per_unit.groupby(level=keys, dropna=False, sort=False)
    stats = pd.DataFrame({"abs": size.groupby(level=keys, dropna=False).sum()})
    stats["sum"] = grouped.sum()
    stats["top1"] = top1
    stats["top2"] = top2
    return stats.fillna({"top1": 0.0, "top2": 0.0})


def table(
    frame: pd.DataFrame,
    by: str | Iterable[str],
    *,
    unit: str,
    count: str | None = "n",
    sums: Iterable[str] = (),
    means: Iterable[str] = (),
    name: str = "table",
) -> pd.DataFrame:
    """Aggregate `frame` by `by` and write /out/<name>.parquet with its companions.

    `unit` is the privacy-unit column (whose contribution the gate bounds); `count`
    names the row count column (None for none); `sums` and `means` name the measures
    released as `sum_<c>` and `mean_<c>`. Returns the table without companions.
    """
    keys, sums, means = _names(by), _names(sums), _names(means)
    if not keys:
        raise ValueError("give at least one group key in `by`")
    if count is None and not sums and not means:
        raise ValueError("nothing to aggregate: give count, sums or means")
    if not _NAME.fullmatch(name):
        raise ValueError(f"table name {name!r}: use letters, digits, '_' and '-'")
    _check(frame, keys, unit, [*sums, *means])
    grouped = frame.groupby(keys, dropna=False, sort=True)
    result = pd.DataFrame(index=grouped.size().index)
    # kinds are core.cells.CellKind values (the runtime runs alone and cannot import it)
    cells = [{"column": key, "kind": "group_key"} for key in keys]
    if count is not None:
        result[count] = grouped.size()
        cells.append({"column": count, "kind": "count"})
    for kind, columns in (("sum", sums), ("avg", means)):
        for column in columns:
            label = f"{'sum' if kind == 'sum' else 'mean'}_{column}"
            result[label] = grouped[column].sum() if kind == "sum" else grouped[column].mean()
            stats = _contributions(frame, keys, unit, column).reindex(result.index)
            for part in ("top1", "top2", "abs", "sum"):
                result[f"__{part}__{label}"] = stats[part].to_numpy(dtype="float64")
            if kind == "avg":
                result[f"__cnt__{label}"] = grouped[column].count()
            cells.append({"column": label, "kind": kind})
    result["__n"] = grouped[unit].nunique()
    result = result.reset_index()
    out = _out()
    result.to_parquet(out / f"{name}.parquet", index=False)
    note = {"file": f"{name}.parquet", "cells": cells, "unit": unit, "by": keys}
    (out / f"{TABLE_NOTE_PREFIX}{name}.json").write_text(json.dumps(note), "utf-8")
    return result[[c for c in result.columns if not str(c).startswith("__")]]
