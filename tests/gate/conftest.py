"""Fixtures for the gate's tests: the raw file behind the demo store, to plant values from."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture
def raw_enterprises(demo_files: list[tuple[Path, Path]]) -> pd.DataFrame:
    return pd.read_csv(demo_files[0][0], dtype=str)
