"""Audit-log speed: durable appends per second on SQLite, and verifying a large log.

    .venv/bin/python bench/bench_audit.py                      # 100,000 and 1,000,000 verified
    .venv/bin/python bench/bench_audit.py --verify 100000      # a quicker run
    .venv/bin/python bench/bench_audit.py --keep /tmp/logs     # build large logs once, reuse

Prints figures; never part of the test pass/fail. Appends go through
`audit_log.append` in a real domain (WAL, synchronous=FULL, BEGIN IMMEDIATE): in
batches of `--batch` per committed transaction, beside a raw sqlite3 baseline that
inserts rows of the same shape the same way; then single-entry appends from 1, 8
and 32 writer threads, and from 2 processes, through group commit
(`Domain.record`) beside the baseline of one transaction per append, in the same
run. The large logs for verification are written straight into SQLite with the
log's own hashing (appending a million entries one by one would only measure
appends again), then verified live in one pass (the baseline) and in spans on every
core; `--export` also times an export and its offline check.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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
from service.domain import Domain, init_domain, open_domain  # noqa: E402
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


def _one_per_transaction(domain: Domain, name: str, n: int) -> None:
    with domain.transaction() as session:
        append(session, Actor(name, "operator"), ACTION, f"{name}:{n}", details(n))


def _group_commit(domain: Domain, name: str, n: int) -> None:
    domain.record(Actor(name, "operator"), ACTION, f"{name}:{n}", details(n))


WAYS: dict[str, Callable[[Domain, str, int], None]] = {
    "group": _group_commit,
    "single": _one_per_transaction,
}


def run_writers(domain: Domain, way: str, writers: int, each: int, tag: str) -> tuple[float, float]:
    """`writers` threads append `each` entries apiece; returns (first start, last end)."""
    start = threading.Barrier(writers)
    append_one = WAYS[way]

    def write(number: int) -> None:
        start.wait()
        for n in range(each):
            append_one(domain, f"{tag}w{number}", n)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    began = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return began, time.time()


def _process_writers(home: str, way: str, writers: int, each: int, tag: str, out) -> None:  # type: ignore[no-untyped-def]
    domain = open_domain(Settings(home=Path(home), database_url=None))
    out.put(run_writers(domain, way, writers, each, tag))


def bench_writers(root: Path, total: int) -> dict[str, tuple[float, float]]:
    """Appends/s for each (writers, processes): group commit, and one transaction each."""
    figures: dict[str, tuple[float, float]] = {}
    context = multiprocessing.get_context("spawn")
    for processes, writers in ((1, 1), (1, 8), (1, 32), (2, 16)):
        rates = []
        for way in ("group", "single"):
            count = total if way == "group" else max(total // 4, writers * processes)
            each = max(1, count // (writers * processes))
            domain = open_bench_domain(root / f"writers-{processes}-{writers}-{way}")
            if processes == 1:
                began, ended = run_writers(domain, way, writers, each, "")
            else:
                out = context.Queue()
                jobs = [
                    context.Process(
                        target=_process_writers,
                        args=(str(domain.home.root), way, writers, each, f"p{p}", out),
                    )
                    for p in range(processes)
                ]
                for job in jobs:
                    job.start()
                spans = [out.get() for _ in jobs]
                for job in jobs:
                    job.join()
                began, ended = min(s[0] for s in spans), max(s[1] for s in spans)
            with domain.sessions() as session:
                checked = verify_store(session)
            assert checked.ok and checked.entries == 1 + each * writers * processes
            rates.append(each * writers * processes / (ended - began))
        figures[f"{processes}x{writers}"] = (rates[0], rates[1])
    return figures


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


def bench_verify(root: Path, count: int, export: bool) -> dict[str, float]:
    home = root / f"verify-{count}"
    built = home.exists()
    domain = open_bench_domain(home)
    if not built:
        print(f"  (building {count:,} entries once: {build_large_log(domain, count, 1000):.0f} s)")
    figures: dict[str, float] = {"load": os.getloadavg()[0]}
    for name, workers in (("one_pass", 1), ("spans", None)):
        started, cpu = time.perf_counter(), time.process_time()
        before = os.times()
        with domain.sessions() as session:
            live = verify_store(session, workers=workers)
        after = os.times()
        figures[name] = time.perf_counter() - started
        children = (after.children_user + after.children_system) - (
            before.children_user + before.children_system
        )
        figures[f"{name}_cpu"] = time.process_time() - cpu + children
        assert live.ok and live.entries == count, live.to_dict()
    if not export:
        return figures
    path = root / "audit.jsonl"
    started = time.perf_counter()
    with domain.transaction() as session:
        export_entries(session, path)
    figures["export"] = time.perf_counter() - started
    started = time.perf_counter()
    offline = verify_export(path, domain.home.public_key())
    figures["verify_export"] = time.perf_counter() - started
    assert offline.ok, offline.to_dict()
    path.unlink()
    return figures


def print_appends(root: Path, args: argparse.Namespace) -> None:
    appends = bench_appends(root, args.appends, args.batch)
    raw, raw_cpu = bench_raw_sqlite(root, args.appends, args.batch)
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
    print(f"single-entry appends, group commit vs one transaction each (load {_load()})")
    for key, (group, single) in bench_writers(root, args.writers).items():
        processes, writers = key.split("x")
        print(
            f"  {processes} process(es) x {writers:>2} writers: {group:>7,.0f} /s grouped,"
            f" {single:>6,.0f} /s one per transaction ({group / single:.1f}x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--writers", type=int, default=4_000, help="appends per writer test")
    parser.add_argument("--verify", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--keep", type=Path, help="keep the large logs here and reuse them")
    parser.add_argument("--export", action="store_true", help="also export and check offline")
    parser.add_argument("--only-verify", action="store_true", help="skip the append figures")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sluice-bench-") as tmp:
        root = Path(tmp)
        print(f"load average at the start: {_load()} on {os.cpu_count()} CPUs")
        if not args.only_verify:
            print_appends(root, args)
        for count in args.verify:
            keep = args.keep or root
            keep.mkdir(parents=True, exist_ok=True)
            figures = bench_verify(keep, count, args.export)
            print(
                f"live verification of {count:,} entries (1 signed head per 1,000;"
                f" load {figures['load']:.1f})"
            )
            print(
                f"  one pass (baseline):    {figures['one_pass']:6.1f} s"
                f"  ({figures['one_pass_cpu']:.1f} s CPU)"
            )
            print(
                f"  spans on {os.cpu_count()} cores:       {figures['spans']:6.1f} s"
                f"  ({figures['spans_cpu']:.1f} s CPU, workers included;"
                f" {figures['one_pass'] / figures['spans']:.1f}x)"
            )
            if args.export:
                export, offline = figures["export"], figures["verify_export"]
                print(f"  export: {export:.1f} s, its offline check: {offline:.1f} s")
        print(f"load average at the end: {_load()}")


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
