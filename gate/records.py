"""Tables of the output gate: per-dataset disclosure rules that refine the domain's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow

__all__ = ["DatasetDisclosure"]


class DatasetDisclosure(Base):
    """Disclosure rules for outputs over one dataset, refining the domain's rules."""

    __tablename__ = "dataset_disclosure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    allow_weaker: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    set_by: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "rules": dict(self.rules),
            "allow_weaker": list(self.allow_weaker),
            "set_by": self.set_by,
            "at": self.at.isoformat(),
        }
