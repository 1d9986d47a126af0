"""The catalog as the API shows it: datasets with the level and role of each column."""

from __future__ import annotations

from service.schemas import Number, Out, Sparse

__all__ = ["ColumnOut", "DatasetOut", "LicenceViewOut"]


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


class LicenceViewOut(Out):
    """What one of the caller's licences allows on the dataset (operators only)."""

    license: int
    max_level: str
    valid_until: str
    row_filter: str | None
    columns: list[str]  # the columns a query under this licence may name


class DatasetOut(Sparse):
    """A dataset in the catalog (资源目录); `ingested_at` is when this version was made.
    `licensed` is present for operators only: the licences through which they see it."""

    name: str
    title: str
    owner: str
    privacy_unit: str
    version: int
    row_count: int
    one_row_per_unit: bool  # proven at ingest: no privacy unit has two rows
    ingested_at: str
    columns: list[ColumnOut]
    licensed: list[LicenceViewOut] | None = None
