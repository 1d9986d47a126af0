"""The catalog as a licence sees it (授权范围内的资源目录): for each dataset an operator's
usable licences cover, what each allows: the highest level, the row filter, the columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from catalog import Dataset, list_datasets
from core.errors import LicenseInvalid
from core.levels import Level
from operators.licenses import list_licenses, usable_license
from operators.records import License

__all__ = ["LicenceView", "licensed_catalog"]


@dataclass(frozen=True)
class LicenceView:
    """One licence's view of one dataset; `columns` are those a query under it may name."""

    license: int
    max_level: str
    valid_until: str
    row_filter: str | None
    columns: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "license": self.license,
            "max_level": self.max_level,
            "valid_until": self.valid_until,
            "row_filter": self.row_filter,
            "columns": list(self.columns),
        }


def licensed_catalog(session: Session, operator_id: int) -> list[tuple[Dataset, list[LicenceView]]]:
    """The datasets the company's usable licences cover, each with those licences' views;
    a dataset no usable licence covers is left out (its schema is not the company's)."""
    usable = [
        record for record, _ in list_licenses(session, operator_id) if _usable(session, record)
    ]
    shown = []
    for dataset in list_datasets(session):
        views = [_view(record, dataset) for record in usable if dataset.name in record.datasets]
        if views:
            shown.append((dataset, views))
    return shown


def _usable(session: Session, record: License) -> bool:
    try:
        usable_license(session, record.id)
    except LicenseInvalid:
        return False
    return True


def _view(record: License, dataset: Dataset) -> LicenceView:
    top = Level(record.max_level).rank
    return LicenceView(
        license=record.id,
        max_level=record.max_level,
        valid_until=record.valid_until.isoformat(),
        row_filter=(record.row_filters or {}).get(dataset.name),
        columns=[
            c.name for c in dataset.schema().columns if c.stored and Level(c.level).rank <= top
        ],
    )
