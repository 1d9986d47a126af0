"""Tables of the output gate: per-dataset disclosure rules that refine the domain's, and
the differencing store (the population of every cell released or awaiting review)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow

__all__ = [
    "CellPopulation",
    "DatasetDisclosure",
    "PopulationPrefix",
]


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


class CellPopulation(Base):
    """One released (or awaiting review) cell's population, for the differencing check.

    A cell is a row of a gated table with at least one released value; `sketch` is its
    population sketch as gate/sketches.py writes it (`Sketch.to_bytes`: its size, its
    lowest unit digests and its non-empty cells). Kept inside the domain and never
    packaged; compared across every operator of the domain.
    """

    __tablename__ = "cell_populations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    operator_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    file: Mapped[str] = mapped_column(String(255), nullable=False)
    row: Mapped[int] = mapped_column(Integer, nullable=False)
    units: Mapped[int] = mapped_column(Integer, nullable=False)
    threshold: Mapped[int] = mapped_column(Integer, nullable=False)
    released: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    sketch: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (Index("ix_cell_populations_threshold_units", "threshold", "units"),)


class PopulationPrefix(Base):
    """The inverted prefix index: a cell's `threshold` lowest unit digests (at most the
    64 its sketch keeps), one row each, with the cell's size and the digest's position
    among them (0 for the lowest).

    Two populations differing by fewer than t units share their lowest common unit
    within the first t units of each, at positions adding up to less than t
    (gate/differencing.py); so a new cell is compared only with cells found under one of
    its own first t digests, of a size within t, at such a position.
    """

    __tablename__ = "population_prefixes"

    # The key's order is the lookup's: a unit, a size range, then positions and cells
    # read from the index alone.
    unit: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    units: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    cell_id: Mapped[int] = mapped_column(
        ForeignKey("cell_populations.id", ondelete="CASCADE"), primary_key=True, index=True
    )
