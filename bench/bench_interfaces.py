"""Latency of a scoring call on an interface product, on the embedded defaults.

Builds a domain (SQLite, Parquet store) with synthetic enterprises, releases a DP
model as model.json, serves it as a scoring interface, records one applicant's
consent, then times `POST /api/v1/interfaces/{id}/call` through FastAPI's test
client (key check, rate limit, consent check, in-domain feature lookup, model,
metering, audit entry), beside two baselines measured in the same run: a bare
FastAPI no-op POST (the floor of any route) and the domain call without HTTP.
Figures, not a test; target: p50 <= 50 ms for the scoring call.

    .venv/bin/python bench/bench_interfaces.py [--rows 20000] [--calls 300]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from fastapi import FastAPI
from fastapi.testclient import TestClient

from audit_log import Actor
from catalog import get_dataset, ingest, load_schema, write_demo_files
from core.db import utcnow
from operators.accounts import Principal, add_operator, add_user
from operators.licenses import grant_license
from products.consents import record_consent
from products.interface_calls import CallRequest, call_interface
from products.interfaces import create_interface, issue_key, key_for
from service.api import create_app
from service.demo_interface import FEATURES, PURPOSE, model_release
from service.domain import Domain, init_domain
from service.settings import Settings

AUTHORITY = Actor("bench-authority", "authority")


def build(home: Path, rows: int) -> tuple[Domain, int, str, str]:
    settings = Settings(home=home, database_url=None)
    d = init_domain(settings)[0]
    raw = home.parent / "raw"
    raw.mkdir()
    data, schema = write_demo_files(raw, rows, seed=11)
    with d.transaction() as session:
        ingest(session, d.home, data, load_schema(schema), AUTHORITY, progress=None)
        add_operator(session, "甬城数据运营有限公司", AUTHORITY)
        operator = Principal.of(
            add_user(session, "li", "operator", "甬城数据运营有限公司", AUTHORITY)
        )
        reviewer = add_user(session, "wang", "reviewer", None, AUTHORITY).name
        license_id = grant_license(
            session,
            operator="甬城数据运营有限公司",
            schemas={"enterprise_utilities": get_dataset(session, "enterprise_utilities").schema()},
            max_level="L3",
            purpose="bench",
            valid_until=date.today() + timedelta(days=30),
            actor=AUTHORITY,
            epsilon=10.0,
        ).id
    release_id = model_release(d, license_id, operator, [reviewer])
    applicant = str(pd.read_csv(data, dtype=str)["enterprise_id"].iloc[0])
    with d.transaction() as session:
        interface = create_interface(
            session, d.home, release_id, operator, "bench", "scoring", PURPOSE,
            {"features": FEATURES, "output": "grade"},
        )  # fmt: skip
        _, token = issue_key(session, interface.id, operator, "bank", "commercial", 6000)
        key = key_for(session, token, interface.id)
        until = utcnow() + timedelta(days=1)
        record_consent(session, d.home, key, applicant, PURPOSE, until)
        return d, interface.id, token, applicant


def timed(step: Callable[[], object], calls: int) -> list[float]:
    for _ in range(5):
        step()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        step()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def row(name: str, samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=20)
    return f"| {name} | {statistics.median(samples):.1f} | {cuts[18]:.1f} | {len(samples)} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        d, interface_id, token, applicant = build(Path(folder) / "home", args.rows)
        api = TestClient(create_app(d.settings))
        body = {"identifier": applicant, "purpose": PURPOSE}
        url = f"/api/v1/interfaces/{interface_id}/call"
        headers = {"X-Interface-Key": token}
        assert api.post(url, json=body, headers=headers).status_code == 200

        bare = FastAPI()

        @bare.post("/noop")
        def noop(payload: dict) -> dict:
            return {"ok": True}

        plain = TestClient(bare)
        settings = d.settings.job_settings()
        request = CallRequest(identifier=applicant, purpose=PURPOSE)
        figures = {
            "FastAPI no-op POST (baseline)": timed(
                lambda: plain.post("/noop", json=body), args.calls
            ),
            "scoring call, domain function": timed(
                lambda: call_interface(d.sessions, d.home, settings, token, interface_id, request),
                args.calls,
            ),
            "scoring call, POST /api/v1/interfaces/{id}/call": timed(
                lambda: api.post(url, json=body, headers=headers), args.calls
            ),
        }
    print(f"{args.rows:,} enterprises, {args.calls} calls each, {platform.python_version()}")
    print("| step | p50 ms | p95 ms | calls |\n|---|---:|---:|---:|")
    for name, samples in figures.items():
        print(row(name, samples))


if __name__ == "__main__":
    main()
