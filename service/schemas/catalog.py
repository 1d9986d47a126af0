"""The catalog as the API shows it: datasets with the level and role of each column."""

from __future__ import annotations

from service.schemas import Number, Out

__all__ = ["ColumnOut", "DatasetOut"]


class ColumnOut(Out):
    name: str
    title: str  # the column's name in the bureau's words (中文名)
    type: str
    stored_type: str
    level: str
    role: str
    desensitize: str
    bounds: list[Number] | None
    categories: list[str] | None  # a declared public code list
    stored: bool


class DatasetOut(Out):
    name: str
    title: str
    owner: str
    privacy_unit: str
    version: int
    row_count: int
    ingested_at: str
    columns: list[ColumnOut]
