"""The log's settings and its moving tail (size, last hash, Merkle frontier, last head).

The tail is read once per transaction and then kept in the session, so a batch of
appends in one transaction costs one read. SQLite's BEGIN IMMEDIATE (and FOR
UPDATE on the settings row elsewhere) keeps two writers from sharing a tail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, event, func, or_, select, update
from sqlalchemy.orm import Session, SessionTransaction

from audit_log.canonical import canonical_entry
from audit_log.index import INHERITING, Owner, OwnerMemory, index_terms
from audit_log.merkle import (
    HASH_SIZE,
    SUITES,
    Frontier,
    HashSuite,
    frontier_positions,
    get_suite,
)
from audit_log.records import AuditEntry, AuditEntryDataset, LogConfig, TreeHead
from core.db import utcnow
from core.errors import Conflict, InvalidInput

GENESIS = "0" * 64
DEFAULT_SUITE = "sha256"
DEFAULT_CHECKPOINT_EVERY = 1000
_STATE = "sluice.audit.state"


@dataclass
class LogState:
    transaction: SessionTransaction | None
    suite: HashSuite
    checkpoint_every: int
    size: int
    last_hash: str
    frontier: Frontier
    head_size: int
    head_at: datetime  # when the last head was signed (the log's creation before any)


def entry_digests(suite: HashSuite, fields: dict[str, Any]) -> tuple[str, bytes]:
    """(entry hash, Merkle leaf hash): both over the canonical entry without its own hash."""
    body = canonical_entry({k: v for k, v in fields.items() if k != "entry_hash"})
    return suite.digest(body).hex(), suite.leaf(body)


def node_seq(level: int, index: int) -> int:
    """The entry that stores subtree (level, index): the one whose leaf completed it."""
    return (index + 1) << level


def log_config(session: Session) -> LogConfig:
    """The log's settings row, locked for this transaction; defaults if never configured."""
    config = session.scalars(select(LogConfig).where(LogConfig.id == 1).with_for_update()).first()
    if config is None:
        config = LogConfig(
            id=1,
            hash_suite=DEFAULT_SUITE,
            checkpoint_every=DEFAULT_CHECKPOINT_EVERY,
            created_at=utcnow(),
        )
        session.add(config)
        session.flush()
    return config


def configure_log(session: Session, hash_suite: str, checkpoint_every: int) -> LogConfig:
    """Fix the hash suite and checkpoint interval; the suite cannot change once entries exist."""
    if hash_suite.lower() not in SUITES:
        raise InvalidInput.coded("audit_hash_unknown", name=hash_suite, known=", ".join(SUITES))
    suite = get_suite(hash_suite)
    if checkpoint_every < 1:
        raise InvalidInput.coded("audit_checkpoint_interval", interval=checkpoint_every)
    config = log_config(session)
    has_entries = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    if has_entries and config.hash_suite != suite.name:
        raise Conflict.coded("audit_hash_fixed", suite=config.hash_suite)
    config.hash_suite, config.checkpoint_every = suite.name, checkpoint_every
    forget_state(session)
    return config


def head_time(timestamp: str) -> datetime:
    """A head's `timestamp` (ISO 8601 UTC with a Z) as the naive UTC time `utcnow` gives."""
    return datetime.fromisoformat(timestamp.removesuffix("Z")).replace(tzinfo=None)


def forget_state(session: Session, *_args: object) -> None:
    session.info.pop(_STATE, None)


def stored_frontier(db: Session | Connection, size: int) -> list[bytes] | None:
    """The Merkle frontier after `size` entries, from the hashes stored beside them
    (None when one is missing or short)."""
    positions = frontier_positions(size)
    seqs = [node_seq(level, index) for level, index in positions]
    rows = dict(
        db.execute(
            select(AuditEntry.seq, AuditEntry.tree_nodes).where(AuditEntry.seq.in_(seqs))
        ).all()
    )
    nodes = []
    for (level, _index), seq in zip(positions, seqs, strict=True):
        blob = rows.get(seq)
        if blob is None or len(blob) < (level + 1) * HASH_SIZE:
            return None
        nodes.append(blob[level * HASH_SIZE : (level + 1) * HASH_SIZE])
    return nodes


def stored_owner(db: Session | Connection, subject: str, upto: int | None = None) -> Owner | None:
    """The operator and licence of the latest entry about `subject` (up to entry `upto`)
    that named one: what a later entry about it inherits (`audit_log.index`)."""
    if not subject.startswith(INHERITING):
        return None
    query = select(AuditEntry.operator_id, AuditEntry.license_id).where(
        AuditEntry.subject == subject,
        or_(AuditEntry.operator_id.is_not(None), AuditEntry.license_id.is_not(None)),
    )
    if upto is not None:
        query = query.where(AuditEntry.seq <= upto)
    row = db.execute(query.order_by(AuditEntry.seq.desc()).limit(1)).first()
    return (row[0], row[1]) if row else None


def load_state(session: Session) -> LogState:
    """The tail for this transaction, read on first use and kept until it ends."""
    cached: LogState | None = session.info.get(_STATE)
    if cached is not None and cached.transaction is session.get_transaction():
        return cached
    config = log_config(session)
    suite = get_suite(config.hash_suite)
    last = session.execute(
        select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    size, last_hash = (last[0], last[1]) if last else (0, GENESIS)
    nodes = stored_frontier(session, size)
    if nodes is None:
        nodes = rebuild_tree(session, suite)
    last_head = session.execute(
        select(TreeHead.size, TreeHead.timestamp).order_by(TreeHead.size.desc()).limit(1)
    ).first()
    head_size = last_head[0] if last_head else 0
    head_at = head_time(last_head[1]) if last_head else config.created_at
    state = LogState(
        session.get_transaction(),
        suite,
        config.checkpoint_every,
        size,
        last_hash,
        Frontier(suite, size, nodes),
        head_size,
        head_at,
    )
    if not session.info.get(_STATE + ".listening"):
        event.listen(session, "after_transaction_end", forget_state)
        session.info[_STATE + ".listening"] = True
    session.info[_STATE] = state
    return state


def rebuild_tree(session: Session, suite: HashSuite) -> list[bytes]:
    """Fill in subtree hashes and index terms missing from entries (logs from before 0002).

    Returns the frontier of the whole log. Only rows with no stored hashes change;
    verification still checks every entry against the signed heads.
    """
    frontier = Frontier(suite)
    owners = OwnerMemory()
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
        _hash, leaf = entry_digests(suite, entry.to_dict())
        nodes = frontier.push(leaf)
        terms = index_terms(entry.subject, entry.details, owners.lookup)
        owners.remember(entry.subject, terms)
        if entry.tree_nodes is None:
            session.execute(
                update(AuditEntry)
                .where(AuditEntry.seq == entry.seq)
                .values(
                    tree_nodes=b"".join(nodes),
                    operator_id=terms.operator_id,
                    license_id=terms.license_id,
                )
            )
            for name in terms.datasets:
                session.merge(AuditEntryDataset(seq=entry.seq, dataset=name))
    return frontier.nodes
