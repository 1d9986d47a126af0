"""The registered-dataset table (资源登记): one row per dataset in the domain store.

The row keeps the schema as registered, so policies and the gate read levels
from the database rather than from a YAML file that may have changed since.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from catalog.schema import DatasetSchema, parse_schema
from core.db import Base, utcnow
from core.home import Home


def schema_document(schema: DatasetSchema) -> dict[str, Any]:
    """The schema as plain JSON (enums as strings) that `parse_schema` reads back unchanged."""
    document = schema.to_dict()
    document["columns"] = [
        {key: (str(value) if key in ("level", "role") else value) for key, value in c.items()}
        for c in document["columns"]
    ]
    return document


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    owner: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    privacy_unit: Mapped[str] = mapped_column(String(63), nullable=False)
    schema_json: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    store_path: Mapped[str] = mapped_column(String(500), nullable=False)
    identifier_index_path: Mapped[str] = mapped_column(String(500), nullable=False)
    row_count: Mapped[int] = mapped_column(Integer, nullable=False)
    source_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    ingested_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    # counted over this version's stored file at ingest (catalog.unit_rows), never declared
    one_row_per_unit: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    # whether this version's file holds `__unit_digest` (catalog.unit_digests); versions
    # ingested before it was written do not, and their jobs hash each unit as before
    unit_digests: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    # whether it also holds `__unit_check`, each digest's check value (the same module)
    unit_checks: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )

    def schema(self) -> DatasetSchema:
        """The schema as registered, with this version's facts about its stored file."""
        return replace(
            parse_schema(self.schema_json),
            one_row_per_unit=self.one_row_per_unit,
            unit_digests=self.unit_digests,
            unit_checks=self.unit_checks,
        )

    def data_path(self, home: Home) -> Path:
        """The desensitized Parquet file; paths are stored relative to the home root."""
        return home.root / self.store_path

    def index_path(self, home: Home) -> Path:
        return home.root / self.identifier_index_path

    def to_dict(self) -> dict[str, Any]:
        columns = [
            {
                "name": c.name,
                "title": c.title or "",
                "type": c.type,
                "stored_type": c.stored_type,
                "level": str(c.level),
                "role": str(c.role),
                "desensitize": c.desensitize,
                "bounds": list(c.bounds) if c.bounds is not None else None,
                "categories": list(c.categories) if c.categories is not None else None,
                "stored": c.stored,
            }
            for c in self.schema().columns
        ]
        return {
            "name": self.name,
            "title": self.title,
            "owner": self.owner,
            "privacy_unit": self.privacy_unit,
            "version": self.version,
            "row_count": self.row_count,
            "one_row_per_unit": self.one_row_per_unit,
            "ingested_at": self.ingested_at.isoformat(timespec="seconds"),
            "columns": columns,
        }
