"""The notebook's own data: `dataset(name)`, the job's L1 view of a licensed dataset.

Everything above L1 comes through the broker (`sluice_runtime.query`, `fit`). There
is no helper that makes a gate-ready table inside the notebook: companions computed
in a process the operator controls prove nothing, so every file a notebook writes
to /out is a custom output (two reviewers and a written exception).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

_DATASET = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _data() -> Path:
    return Path(os.environ.get("SLUICE_DATA", "/data"))


def dataset(name: str) -> pd.DataFrame:
    """A licensed dataset as this notebook may see it: its L1 columns only."""
    if not _DATASET.fullmatch(name):
        raise ValueError(f"{name!r} is not a dataset name")
    path = _data() / f"{name}.parquet"
    if not path.exists():
        shown = sorted(p.stem for p in _data().glob("*.parquet"))
        raise FileNotFoundError(f"dataset {name!r} is not mounted; this job has {shown}")
    return pd.read_parquet(path)
