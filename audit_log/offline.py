"""Checking an export in chunks of lines, on several processes when the file is large.

Parsing, canonicalising and hashing each entry is the costly part and needs no
context, so workers do it per chunk and check the links inside their chunk; the
main process stitches chunks together, grows the Merkle tree and checks the heads.
The result is the same as checking line by line, first bad entry included.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import IO, Any

from audit_log.canonical import canonical_entry
from audit_log.merkle import HASH_SIZE, get_suite
from audit_log.verify import LogChecker, Tampered

PARALLEL_FROM_BYTES = 64_000_000  # about 150,000 entries: below this, processes cost more
Job = tuple[str, int, list[str]]  # (hash suite, number of the first line, lines)


@dataclass
class Chunk:
    """What a worker found in its lines; `heads` and `error` say after how many entries."""

    saw_entry: bool = False
    first_seq: Any = None
    first_prev: Any = None
    last_hash: str = ""
    leaves: bytes = b""
    heads: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    error: tuple[int, int | None, str] | None = None


def hash_lines(job: Job) -> Chunk:
    """Parse, canonicalise and hash one chunk; stop at the first problem inside it."""
    suite_name, first_line, lines = job
    suite, chunk = get_suite(suite_name), Chunk()
    leaves: list[bytes] = []
    previous: Any = None
    for number, line in enumerate(lines, start=first_line):
        if not line.strip():
            continue
        count = len(leaves)
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            chunk.error = (count, None, f"line {number} is not JSON")
            break
        kind = record.pop("type", None) if isinstance(record, dict) else None
        if kind == "tree_head":
            chunk.heads.append((count, record))
            continue
        if kind != "entry":
            chunk.error = (count, None, f"line {number} is neither an entry nor a tree head")
            break
        seq, claimed = record.get("seq"), record.pop("entry_hash", None)
        if count == 0:
            chunk.saw_entry, chunk.first_seq = True, seq
            chunk.first_prev = record.get("prev_hash")
        elif seq != chunk.first_seq + count:
            expected = chunk.first_seq + count
            chunk.error = (count, expected, f"expected entry {expected}, found {seq}")
            break
        elif record.get("prev_hash") != previous:
            chunk.error = (count, seq, "link to the previous entry is broken")
            break
        try:
            body = canonical_entry(record)
        except (TypeError, ValueError):
            chunk.error = (count, seq, "the entry is not canonical JSON")
            break
        if suite.digest(body).hex() != claimed:
            chunk.error = (count, seq, "entry content does not match its hash")
            break
        leaves.append(suite.leaf(body))
        previous = claimed
    chunk.leaves, chunk.last_hash = b"".join(leaves), previous or ""
    return chunk


def _accept(checker: LogChecker, chunk: Chunk) -> None:
    entries = len(chunk.leaves) // HASH_SIZE
    if chunk.saw_entry:
        expected = checker.size + 1
        if chunk.first_seq != expected:
            raise Tampered(expected, f"expected entry {expected}, found {chunk.first_seq}")
        if chunk.first_prev != checker.previous:
            raise Tampered(expected, "link to the previous entry is broken")
    done = 0
    stops: list[tuple[int, dict[str, Any] | None]] = [*chunk.heads]
    if chunk.error:
        stops.append((chunk.error[0], None))
    for position, head in stops:
        for index in range(done, position):
            checker.leaf(chunk.leaves[index * HASH_SIZE : (index + 1) * HASH_SIZE])
        done = position
        if head is not None:
            checker.head(head)
    for index in range(done, entries):
        checker.leaf(chunk.leaves[index * HASH_SIZE : (index + 1) * HASH_SIZE])
    if entries:
        checker.previous = chunk.last_hash
    if chunk.error:
        _count, seq, problem = chunk.error
        raise Tampered(seq, problem)


def _jobs(suite: str, lines: IO[str], first_line: int, size: int) -> Iterator[Job]:
    number = first_line
    while batch := list(islice(lines, size)):
        yield suite, number, batch
        number += len(batch)


def check_lines(
    checker: LogChecker, lines: IO[str], first_line: int, workers: int | None, chunk_lines: int
) -> None:
    """Feed every line after the header to `checker`; raises Tampered at the first problem."""
    if workers is None:
        # measured: on 2 CPUs two workers lose to one (pickling eats the gain)
        large = os.fstat(lines.fileno()).st_size >= PARALLEL_FROM_BYTES
        cpus = os.cpu_count() or 1
        workers = min(cpus - 1, 4) if large and cpus >= 4 else 1
    jobs = _jobs(checker.suite.name, lines, first_line, chunk_lines)
    if workers <= 1:
        for job in jobs:
            _accept(checker, hash_lines(job))
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        results: Iterable[Chunk] = pool.imap(hash_lines, jobs)
        for chunk in results:
            _accept(checker, chunk)
