"""Audit-log speed: durable appends per second on SQLite, and verifying a large log.

    .venv/bin/python bench/bench_audit.py                 # 20,000 appends, 1,000,000 verified
    .venv/bin/python bench/bench_audit.py --verify 100000 # a quicker run

Prints figures; never part of the test pass/fail. Appends go through
`audit_log.append` in a real domain (WAL, synchronous=FULL, BEGIN IMMEDIATE), in
batches of `--batch` per committed transaction, beside a raw sqlite3 baseline that
inserts rows of the same shape the same way. The large log for verification is
written straight into SQLite with the log's own hashing (appending a million
entries one by one would only measure appends again), then verified live and
as an export.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit_log import (  # noqa: E402
    Actor,
    AuditAction,
    append,
    export_entries,
    verify_export,
    verify_store,
)
from audit_log.merkle import Frontier, get_suite  # noqa: E402
from audit_log.signing import Ed25519Signer, sign_head  # noqa: E402
from audit_log.state import GENESIS, entry_digests  # noqa: E402
from core.db import utcnow  # noqa: E402
from service.domain import Domain, init_domain  # noqa: E402
from service.settings import Settings  # noqa: E402

ACTOR = Actor("bench", "operator")
# a routine, high-volume action that no alert rule looks at
ACTION = AuditAction.TOKEN_USED


def details(n: int) -> dict[str, object]:
    return {"license": 1 + n % 7, "operator_id": 1 + n % 3, "n": n, "note": "数据可用不可见"}


def open_bench_domain(root: Path, checkpoint_every: int = 1000) -> Domain:
    settings = Settings(home=root, database_url=None, audit_checkpoint_every=checkpoint_every)
    return init_domain(settings)[0]


def bench_appends(root: Path, count: int, batch: int) -> dict[str, float]:
    domain = open_bench_domain(root / "appends")
    with domain.engine.connect() as connection:
        sync = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    started, cpu = time.perf_counter(), time.process_time()
    for first in range(0, count, batch):
        with domain.transaction() as session:
            for n in range(first, min(first + batch, count)):
                append(session, ACTOR, ACTION, f"job:{n}", details(n))
    batched = count / (time.perf_counter() - started)
    batched_cpu = count / (time.process_time() - cpu)
    single_count = max(1, min(count // 20, 500))
    started = time.perf_counter()
    for n in range(single_count):
        with domain.transaction() as session:
            append(session, ACTOR, ACTION, f"job:{n}", details(n))
    single = single_count / (time.perf_counter() - started)
    with domain.transaction() as session:
        assert verify_store(session).ok
    return {
        "batched": batched,
        "batched_per_cpu_second": batched_cpu,
        "one_per_transaction": single,
        "synchronous": float(sync or 0),
    }


def bench_raw_sqlite(root: Path, count: int, batch: int) -> tuple[float, float]:
    """The floor: plain sqlite3 inserts of rows like audit entries, same batching, no hashing."""
    db = sqlite3.connect(root / "raw.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE e (seq INTEGER PRIMARY KEY, at TEXT, actor TEXT, role TEXT, action TEXT,"
        " subject TEXT, details TEXT, prev_hash TEXT, entry_hash TEXT UNIQUE, tree_nodes BLOB)"
    )
    started, cpu = time.perf_counter(), time.process_time()
    for first in range(0, count, batch):
        rows = [
            (
                n + 1,
                utcnow().isoformat(),
                "bench",
                "operator",
                ACTION.value,
                f"job:{n}",
                json.dumps(details(n), ensure_ascii=False),
                "0" * 64,
                f"{n:064x}",
                bytes(32),
            )
            for n in range(first, min(first + batch, count))
        ]
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO e VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        db.execute("COMMIT")
    rates = count / (time.perf_counter() - started), count / (time.process_time() - cpu)
    db.close()
    return rates


def build_large_log(domain: Domain, count: int, every: int) -> float:
    """Write `count` valid entries and signed heads straight into the store."""
    suite = get_suite("sha256")
    signer = Ed25519Signer(domain.home.signing_key)
    frontier, previous = Frontier(suite), GENESIS
    started_at = utcnow()
    db = sqlite3.connect(domain.home.database, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    db.execute("DELETE FROM audit_entries")
    db.execute("DELETE FROM audit_entry_datasets")
    db.execute("DELETE FROM audit_tree_heads")
    started = time.perf_counter()
    rows, heads = [], []
    for seq in range(1, count + 1):
        n = seq - 1
        fields = {
            "seq": seq,
            "at": (started_at + timedelta(microseconds=seq)).isoformat(timespec="microseconds"),
            "actor": ACTOR.name,
            "role": ACTOR.role,
            "action": ACTION.value,
            "subject": f"item:{n}",
            "details": details(n),
            "prev_hash": previous,
        }
        digest, leaf = entry_digests(suite, fields)
        nodes = b"".join(frontier.push(leaf))
        rows.append(
            (seq, fields["at"].replace("T", " "), ACTOR.name, ACTOR.role, ACTION.value,
             fields["subject"], json.dumps(fields["details"], ensure_ascii=False), previous,
             digest, fields["details"]["operator_id"], fields["details"]["license"], nodes)
        )  # fmt: skip
        previous = digest
        if seq % every == 0 or seq == count:
            head = sign_head(
                signer,
                {
                    "size": seq,
                    "root_hash": frontier.root().hex(),
                    "hash_suite": suite.name,
                    "timestamp": utcnow().isoformat(timespec="microseconds") + "Z",
                    "reason": "interval",
                },
            )
            heads.append(
                tuple(head[k] for k in ("size", "root_hash", "hash_suite", "signature_algorithm"))
                + (head["key_id"], head["timestamp"], head["signature"], head["reason"])
            )
        if len(rows) >= 20000 or seq == count:
            db.executemany(
                "INSERT INTO audit_entries (seq, at, actor, role, action, subject, details,"
                " prev_hash, entry_hash, operator_id, license_id, tree_nodes)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            rows = []
    db.executemany(
        "INSERT INTO audit_tree_heads (size, root_hash, hash_suite, signature_algorithm, key_id,"
        " timestamp, signature, reason) VALUES (?,?,?,?,?,?,?,?)",
        heads,
    )
    db.execute("COMMIT")
    db.close()
    return time.perf_counter() - started


def bench_verify(root: Path, count: int) -> dict[str, float]:
    domain = open_bench_domain(root / "verify")
    built = build_large_log(domain, count, 1000)
    started, cpu = time.perf_counter(), time.process_time()
    with domain.transaction() as session:
        live = verify_store(session)
    live_seconds, live_cpu = time.perf_counter() - started, time.process_time() - cpu
    assert live.ok and live.entries == count, live.to_dict()
    export = root / "audit.jsonl"
    started = time.perf_counter()
    with domain.transaction() as session:
        export_entries(session, export)
    export_seconds = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    serial = verify_export(export, domain.home.public_key(), workers=1)
    serial_seconds, serial_cpu = time.perf_counter() - started, time.process_time() - cpu
    started = time.perf_counter()
    offline = verify_export(export, domain.home.public_key())
    offline_seconds = time.perf_counter() - started
    assert serial.ok and offline.ok and offline.entries == count, offline.to_dict()
    return {
        "build": built,
        "verify_store": live_seconds,
        "verify_store_cpu": live_cpu,
        "export": export_seconds,
        "verify_export_serial": serial_seconds,
        "verify_export_serial_cpu": serial_cpu,
        "verify_export": offline_seconds,
        "export_mb": export.stat().st_size / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--verify", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sluice-bench-") as tmp:
        root = Path(tmp)
        appends = bench_appends(root, args.appends, args.batch)
        raw, raw_cpu = bench_raw_sqlite(root, args.appends, args.batch)
        print(f"load average before the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"durable appends, SQLite WAL synchronous={int(appends['synchronous'])} (FULL=2)")
        print(
            f"  audit_log.append, {args.batch}/transaction: {appends['batched']:>9,.0f} /s"
            f"  ({appends['batched_per_cpu_second']:,.0f} per CPU-second)"
        )
        print(f"  audit_log.append, 1/transaction:   {appends['one_per_transaction']:>9,.0f} /s")
        print(
            f"  raw sqlite3 insert, {args.batch}/transaction: {raw:>7,.0f} /s"
            f"  ({raw_cpu:,.0f} per CPU-second; the baseline)"
        )
        figures = bench_verify(root, args.verify)
        print(f"verification of {args.verify:,} entries (1 signed head per 1,000)")
        print(f"  build the log (not timed against the target): {figures['build']:.1f} s")
        print(
            f"  verify the live store:        {figures['verify_store']:5.1f} s"
            f"  ({figures['verify_store_cpu']:.1f} s CPU)"
        )
        print(f"  export ({figures['export_mb']:.0f} MB):              {figures['export']:5.1f} s")
        print(
            f"  verify the export, 1 process: {figures['verify_export_serial']:5.1f} s"
            f"  ({figures['verify_export_serial_cpu']:.1f} s CPU)"
        )
        print(f"  verify the export, default:   {figures['verify_export']:5.1f} s")


if __name__ == "__main__":
    main()
