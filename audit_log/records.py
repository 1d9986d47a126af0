"""The audit tables: entries, the datasets they name, signed tree heads, the log's settings.

Only `AuditEntry.to_dict()` is evidence. The index columns (operator, license,
datasets) and the stored subtree hashes are derived at append time so regulators
can filter and fetch proofs quickly; verification recomputes and compares them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime, nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(40), nullable=False)
    action: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    subject: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    entry_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    operator_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    license_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    #: the leaf hash, then each subtree hash this leaf completes (32 bytes each)
    tree_nodes: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(timespec="microseconds"),
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "subject": self.subject,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
        }


class AuditEntryDataset(Base):
    """Which datasets an entry names: an index for the regulator's filter."""

    __tablename__ = "audit_entry_datasets"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    dataset: Mapped[str] = mapped_column(String(63), primary_key=True, index=True)


class TreeHead(Base):
    """A signed tree head (STH): the log's size and Merkle root, signed by the domain key."""

    __tablename__ = "audit_tree_heads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(Integer, nullable=False, unique=True)
    root_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash_suite: Mapped[str] = mapped_column(String(20), nullable=False)
    signature_algorithm: Mapped[str] = mapped_column(String(20), nullable=False)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    timestamp: Mapped[str] = mapped_column(String(40), nullable=False)
    signature: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str] = mapped_column(String(20), nullable=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "root_hash": self.root_hash,
            "hash_suite": self.hash_suite,
            "signature_algorithm": self.signature_algorithm,
            "key_id": self.key_id,
            "timestamp": self.timestamp,
            "signature": self.signature,
            "reason": self.reason,
        }


class LogConfig(Base):
    """The log's hash suite and checkpoint interval, fixed when the domain is initialised."""

    __tablename__ = "audit_log_config"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hash_suite: Mapped[str] = mapped_column(String(20), nullable=False)
    checkpoint_every: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
