"""Verifying the log: links, hashes, the Merkle tree and every signed head.

The same `LogChecker` reads the live store (range by range, `audit_log.ranges`) and
an export (`audit_log.offline`). It names the first entry
that does not fit; when entries were rewritten with consistent hashes, the signed
heads still catch it and the first entry past the last good head is named.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from audit_log.canonical import canonical_entry, canonical_fields
from audit_log.index import OwnerMemory, index_terms
from audit_log.merkle import Frontier, HashSuite, get_suite
from audit_log.records import AuditEntryDataset
from audit_log.signing import Verifier, head_signature_ok
from audit_log.state import DEFAULT_SUITE, GENESIS


@dataclass
class Verification:
    ok: bool
    entries: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None
    checks: list[str] = field(default_factory=list)
    hash_suite: str | None = None
    root_hash: str | None = None
    signed_size: int = 0
    heads: int = 0
    witnessed: int = 0  # heads kept outside the domain that the log was checked against

    @property
    def unsigned_tail(self) -> int:
        """Entries past the last signed head: an insider could drop them unseen."""
        return self.entries - self.signed_size if self.ok else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "checks": self.checks,
            "hash_suite": self.hash_suite,
            "root_hash": self.root_hash,
            "signed_size": self.signed_size,
            "heads": self.heads,
            "unsigned_tail": self.unsigned_tail,
            "witnessed": self.witnessed,
        }


class Tampered(Exception):
    def __init__(self, seq: int | None, problem: str) -> None:
        super().__init__(problem)
        self.seq, self.problem = seq, problem


@dataclass
class StoredIndex:
    """What the live store keeps beside an entry, to be checked against the entry."""

    tree_nodes: bytes | None
    operator_id: int | None
    license_id: int | None
    datasets: tuple[str, ...]


class LogChecker:
    """Feed entries in log order (and heads anywhere at or after their size); then finish."""

    def __init__(
        self, suite: HashSuite, verifier: Verifier | None, owners: OwnerMemory | None = None
    ) -> None:
        self.suite, self.verifier = suite, verifier
        self.frontier = Frontier(suite)
        self.previous = GENESIS
        self.pending: dict[int, dict[str, Any]] = {}
        self.good_size = 0  # entries proven by a signed head so far
        self.heads = 0
        self.owners = owners or OwnerMemory()
        self.kept: dict[int, list[dict[str, Any]]] = {}  # heads a witness kept, by size
        self.witnessed = 0

    @property
    def size(self) -> int:
        return self.frontier.size

    def head(self, head: dict[str, Any]) -> None:
        size = head.get("size")
        if type(size) is not int or size < 1:
            raise Tampered(None, f"a tree head has no valid size: {size!r}")
        if head.get("hash_suite") != self.suite.name:
            raise Tampered(
                None,
                f"the tree head at size {size} names {head.get('hash_suite')}, "
                f"but the log hashes with {self.suite.name}",
            )
        if self.verifier is not None and not head_signature_ok(head, self.verifier):
            raise Tampered(None, f"the tree head at size {size} has a bad signature")
        if size < self.size:
            raise Tampered(None, f"the tree head at size {size} comes after entry {self.size}")
        self.pending[size] = head
        if size == self.size:
            self._settle()

    def _settle(self) -> None:
        head = self.pending.pop(self.size)
        if head.get("root_hash") != self.frontier.root().hex():
            raise Tampered(
                self.good_size + 1,
                f"entries {self.good_size + 1}..{self.size} do not match the signed tree head "
                f"at size {self.size}",
            )
        self.good_size = self.size
        self.heads += 1

    def entry(self, entry: dict[str, Any], stored: StoredIndex | None = None) -> None:
        """Check one entry; `entry` is consumed (its `entry_hash` is popped)."""
        expected = self._expect(entry.get("seq"), entry.get("prev_hash"))
        claimed = entry.pop("entry_hash", None)
        try:
            body = canonical_entry(entry)
        except (TypeError, ValueError):
            raise Tampered(expected, "the entry is not canonical JSON") from None
        nodes = self._hashed(expected, body, claimed)
        if stored is not None:
            self._stored(expected, entry["subject"], entry["details"], nodes, stored)
        self._grown()

    def row(self, row: StoredFields, datasets: tuple[str, ...]) -> None:
        """Check one entry as the live store keeps it: the same checks and words as
        `entry`, read straight from the row's fields (the hot path of a large log)."""
        seq, at, actor, role, action, subject, details, prev, claimed, tree, op, lic = row
        expected = self._expect(seq, prev)
        try:
            body = canonical_fields(seq, at, actor, role, action, subject, details, prev)
        except (TypeError, ValueError):
            raise Tampered(expected, "the entry is not canonical JSON") from None
        nodes = self._hashed(expected, body, claimed)
        self._stored(expected, subject, details, nodes, StoredIndex(tree, op, lic, datasets))
        self._grown()

    def _expect(self, seq: Any, prev_hash: Any) -> int:
        """The next entry's number, once `seq` and `prev_hash` say it follows the last."""
        expected = self.size + 1
        if seq != expected:
            raise Tampered(expected, f"expected entry {expected}, found {seq}")
        if prev_hash != self.previous:
            raise Tampered(expected, "link to the previous entry is broken")
        return expected

    def _hashed(self, expected: int, body: bytes, claimed: Any) -> bytes:
        """Check the entry's hash and add its leaf; the tree hashes the leaf completes."""
        if self.suite.digest(body).hex() != claimed:
            raise Tampered(expected, "entry content does not match its hash")
        self.previous = claimed
        return b"".join(self.frontier.push(self.suite.leaf(body)))

    def leaf(self, leaf: bytes) -> None:
        """Grow the tree by an entry already checked elsewhere (see `audit_log.offline`)."""
        self.frontier.push(leaf)
        self._grown()

    def _grown(self) -> None:
        if self.size in self.kept:
            self._check_kept(self.kept.pop(self.size))
        if self.size in self.pending:
            self._settle()

    def keep(self, head: dict[str, Any]) -> None:
        """A head a regulator kept earlier: the log must extend it (checked as it grows)."""
        size = head.get("size")
        if type(size) is not int or size < 1:
            raise Tampered(None, f"a kept head has no valid size: {size!r}")
        if head.get("hash_suite") != self.suite.name:
            raise Tampered(None, f"the kept head at size {size} is for another hash suite")
        if self.verifier is None or not head_signature_ok(head, self.verifier):
            raise Tampered(None, f"the kept head at size {size} is not signed by this domain's key")
        self.kept.setdefault(size, []).append(head)

    def kept_heads(self) -> list[dict[str, Any]]:
        return [head for heads in self.kept.values() for head in heads]

    def _check_kept(self, heads: list[dict[str, Any]]) -> None:
        root = self.frontier.root().hex()
        for head in heads:
            if head.get("root_hash") != root:
                raise Tampered(
                    None,
                    f"the log is not an extension of the kept head at size {self.size}: "
                    "entries up to it were rewritten, or the log forked",
                )
            self.witnessed += 1

    def _stored(
        self, seq: int, subject: str, details: dict[str, Any], nodes: bytes, stored: StoredIndex
    ) -> None:
        if stored.tree_nodes is not None and stored.tree_nodes != nodes:
            raise Tampered(seq, "the stored Merkle hashes beside the entry do not match it")
        terms = index_terms(subject, details, self.owners.lookup)
        self.owners.remember(subject, terms)
        if stored.tree_nodes is None:
            return  # written before the index existed; filled in by the next append
        found = (stored.operator_id, stored.license_id, stored.datasets)
        if found != (terms.operator_id, terms.license_id, terms.datasets):
            raise Tampered(
                seq, "the entry's index columns (operator, license, datasets) were changed"
            )

    def finish(self, require_signed_tail: bool) -> Verification:
        checks = ["sequence", "links", "hashes", "merkle"]
        if self.kept:
            missing = max(self.kept)
            raise Tampered(
                self.size + 1,
                f"the log was shortened: it ends at entry {self.size}, but a kept head "
                f"signed {missing} entries",
            )
        if self.pending:
            missing = min(self.pending)
            raise Tampered(
                self.size + 1,
                f"the log ends at entry {self.size}, but a signed head covers {missing} entries",
            )
        if require_signed_tail and self.good_size != self.size:
            raise Tampered(
                self.good_size + 1,
                f"entries {self.good_size + 1}..{self.size} are not covered by a signed head",
            )
        if self.heads:
            checks.append("signed heads" if self.verifier else "tree heads (signatures unchecked)")
        if self.witnessed:
            checks.append("kept heads (witness)")
        return self.result(True, checks)

    def result(self, ok: bool, checks: list[str], error: Tampered | None = None) -> Verification:
        return Verification(
            ok,
            self.size,
            self.previous,
            error.seq if error else None,
            error.problem if error else None,
            checks,
            self.suite.name,
            self.frontier.root().hex(),
            self.good_size,
            self.heads,
            self.witnessed,
        )


def run_checker(
    checker: LogChecker, feed: Iterable[tuple[str, Any, Any]], require_signed_tail: bool
) -> Verification:
    """Drive a checker over ("entry", fields, stored) / ("head", fields, None) items."""
    try:
        for kind, record, stored in feed:
            if kind == "entry":
                checker.entry(record, stored)
            else:
                checker.head(record)
        return checker.finish(require_signed_tail)
    except Tampered as error:
        return checker.result(False, [], error)


def verify_entries(
    entries: Iterable[dict[str, Any]], hash_suite: str = DEFAULT_SUITE
) -> Verification:
    """Check sequence numbers, links and hashes of entries given in log order (no heads)."""
    checker = LogChecker(get_suite(hash_suite), None)
    return run_checker(checker, (("entry", e, None) for e in entries), False)


def _timestamp(value: str | datetime) -> str:
    """A stored time as `AuditEntry.to_dict` writes it (ISO 8601, microseconds)."""
    if isinstance(value, str) and len(value) == 26 and value[10] == " ":
        return f"{value[:10]}T{value[11:]}"  # SQLite's DATETIME text, as SQLAlchemy stores it
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.isoformat(timespec="microseconds")


StoredRow = tuple[dict[str, Any], bytes | None, int | None, int | None]
#: seq, at, actor, role, action, subject, details, prev_hash, entry_hash, tree_nodes,
#: operator_id, license_id: a stored entry's columns, as `to_dict` writes its fields
StoredFields = tuple[Any, ...]


def stored_fields(
    db: Connection, first: int = 1, last: int | None = None
) -> Iterator[StoredFields]:
    """The columns of entries first..last in log order, from raw rows, with the time as
    `AuditEntry.to_dict` writes it and the details parsed.

    SQLAlchemy's per-column processing would double the time it takes for a large log.
    """
    where = f" WHERE seq >= {int(first)}" + ("" if last is None else f" AND seq <= {int(last)}")
    cursor = db.connection.cursor()  # the driver's own: plain tuples, no Row objects
    try:
        cursor.execute(
            "SELECT seq, at, actor, role, action, subject, details, prev_hash, entry_hash,"
            f" tree_nodes, operator_id, license_id FROM audit_entries{where} ORDER BY seq"
        )
        while batch := cursor.fetchmany(5000):
            yield from _fields(batch)
    finally:
        cursor.close()


def _fields(batch: Iterable[Sequence[Any]]) -> Iterator[StoredFields]:
    loads = _json_object
    for seq, at, actor, role, action, subject, details, prev, digest, nodes, op, lic in batch:
        if type(at) is str and len(at) == 26 and at[10] == " ":
            at = f"{at[:10]}T{at[11:]}"  # SQLite's DATETIME text, as SQLAlchemy stores it
        else:
            at = _timestamp(at)
        if isinstance(details, str | bytes):
            details = loads(details)
        tree = nodes if nodes is None or type(nodes) is bytes else bytes(nodes)
        yield seq, at, actor, role, action, subject, details, prev, digest, tree, op, lic


_scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[attr-defined]


def _json_object(text: str | bytes) -> Any:
    """`json.loads(text)`, scanning directly when the text is one value and nothing more
    (as the log writes it); anything else goes to `json.loads`, which says what is wrong."""
    if type(text) is str:
        try:
            value, end = _scan(text, 0)
        except (StopIteration, ValueError):
            return json.loads(text)
        if end == len(text):
            return value
    return json.loads(text)


def stored_rows(db: Connection, first: int = 1, last: int | None = None) -> Iterator[StoredRow]:
    """(entry, stored tree hashes, operator id, license id) for entries first..last in log
    order (`stored_fields` with the entry as a dict)."""
    for (
        seq,
        at,
        actor,
        role,
        action,
        subject,
        details,
        prev,
        digest,
        nodes,
        op,
        lic,
    ) in stored_fields(db, first, last):
        entry = {
            "seq": seq,
            "at": at,
            "actor": actor,
            "role": role,
            "action": action,
            "subject": subject,
            "details": details,
            "prev_hash": prev,
            "entry_hash": digest,
        }
        yield entry, nodes, op, lic


def stored_entries(session: Session, upto: int | None = None) -> Iterator[StoredRow]:
    """Every entry up to `upto` (all by default), as `stored_rows` reads them."""
    return stored_rows(session.connection(), 1, upto)


def stored_datasets(db: Connection, first: int, last: int) -> dict[int, tuple[str, ...]]:
    """The datasets each entry first..last names in the index, sorted."""
    datasets: dict[int, list[str]] = {}
    rows = db.execute(
        select(AuditEntryDataset.seq, AuditEntryDataset.dataset)
        .where(AuditEntryDataset.seq >= first, AuditEntryDataset.seq <= last)
        .order_by(AuditEntryDataset.seq, AuditEntryDataset.dataset)
    )
    for seq, name in rows:
        datasets.setdefault(seq, []).append(name)
    return {seq: tuple(names) for seq, names in datasets.items()}
