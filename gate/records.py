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
    "NumberingSegment",
    "PopulationPrefix",
    "PopulationUnit",
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


class PopulationUnit(Base):
    """The domain's numbering of the privacy units seen in stored populations.

    A unit is known here only by its digest (`__units`); its number is dense, so a
    population is a small, fast bitmap of numbers rather than of random 64-bit digests
    (about ten times smaller and a hundred times faster to compare). Numbers are never
    reused or changed, so a stored bitmap keeps its meaning.
    """

    __tablename__ = "population_units"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[int] = mapped_column(BigInteger, unique=True, nullable=False)


class NumberingSegment(Base):
    """A run of the unit numbering packed for reading whole: the digests of some units,
    sorted, and their numbers beside them, each as little-endian 64-bit integers.

    Every unit is written into a segment in the transaction that numbers it, so the
    segments together always hold the whole numbering (duplicates are the same pair).
    A job with millions of units reads a few blobs (10M units: ~0.5 s) instead of a
    row per unit (~7 s on SQLite); a job with few units for the store's size still
    looks them up by `population_units`' index.
    """

    __tablename__ = "population_numbering"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    units: Mapped[int] = mapped_column(Integer, nullable=False)
    digests: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    numbers: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class CellPopulation(Base):
    """One released (or awaiting review) cell's population, for the differencing check.

    A cell is a row of a gated table with at least one released value; `bitmap` is a
    serialized pyroaring BitMap64 of unit numbers (PopulationUnit.id). Kept inside the
    domain and never packaged; compared across every operator of the domain.
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
    bitmap: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (Index("ix_cell_populations_threshold_units", "threshold", "units"),)


class PopulationPrefix(Base):
    """The inverted prefix index: a cell's `threshold` lowest unit numbers, one row each,
    with the cell's size and the unit's position among them (0 for the lowest).

    Two populations differing by fewer than t units share their lowest common unit
    within the first t units of each, at positions adding up to less than t
    (gate/differencing.py); so a new cell is compared only with cells found under one of
    its own first t numbers, of a size within t, at such a position.
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
