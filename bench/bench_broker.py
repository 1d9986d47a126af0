"""The notebook broker: what a `query()` costs over the same SQL run as a job, and how
a DP model trained by `fit()` scores beside a non-private fit of the same model.

Run: .venv/bin/python bench/bench_broker.py [--backend bubblewrap] [--queries 10] [--epsilon 1]

1. Overhead. The same aggregate SQL is run (a) `--queries` times as a SQL job
   (jobs.submit + jobs.runner.run, timed on the host) and (b) `--queries` times by a
   notebook through `sluice_runtime.query()` (timed inside the notebook, around each
   call). Both pay for the policy decision, a sandbox for the private core, the gate
   and post-processing; (b) adds the socket round trip, the child-job bookkeeping and
   the Parquet hand-over. Medians are compared; the target is (b) - (a) < 100 ms.
2. Accuracy. A synthetic credit dataset (a bounded 0/1 label, three bounded
   features, one row per enterprise) is ingested; `fit()`'s broker path trains a DP
   logistic regression over it at each ε; scikit-learn's LogisticRegression is fitted
   on the same rows with the same scaling; both are scored on a synthetic holdout
   drawn from the same distribution (no row of it was trained on).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit_log import Actor  # noqa: E402
from catalog import get_dataset, ingest, write_demo_files  # noqa: E402
from catalog.schema import load_schema  # noqa: E402
from gate.model_artifact import DpModel  # noqa: E402
from jobs.dp_fit import submit_model  # noqa: E402
from jobs.runner import run  # noqa: E402
from jobs.submit import submit_notebook, submit_sql  # noqa: E402
from operators.accounts import Principal, add_operator, add_user  # noqa: E402
from operators.licenses import grant_license  # noqa: E402
from service.domain import Domain, init_domain  # noqa: E402
from service.settings import Settings  # noqa: E402

AUTHORITY = Actor("bench-authority", "authority")
SQL = (
    "SELECT district, COUNT(*) AS n, AVG(water_fee) AS fee "
    "FROM enterprise_utilities GROUP BY district"
)
CREDIT_SCHEMA = """
dataset: rural_credit
title: 涉农贷款（合成）
owner: bench
privacy_unit: borrower_id
columns:
  - {name: borrower_id, type: string, level: L3, role: identifier, desensitize: pseudonymize}
  - {name: income, type: double, level: L3, role: measure, bounds: [0, 200000]}
  - {name: land_mu, type: double, level: L2, role: measure, bounds: [0, 100]}
  - {name: debt_ratio, type: double, level: L3, role: measure, bounds: [0, 2]}
  - {name: defaulted, type: integer, level: L3, role: measure, bounds: [0, 1]}
"""
FEATURES = ["income", "land_mu", "debt_ratio"]


def credit_rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = np.clip(rng.lognormal(10.5, 0.6, n), 0, 200_000)
    land = np.clip(rng.gamma(2.0, 6.0, n), 0, 100)
    debt = np.clip(rng.beta(2, 4, n) * 2, 0, 2)
    logit = 1.5 - income / 25_000 - land / 20 + 2.5 * debt
    defaulted = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    ids = [f"B{seed}-{i:06d}" for i in range(n)]
    frame = {"borrower_id": ids, "income": income.round(2), "land_mu": land.round(2),
             "debt_ratio": debt.round(4), "defaulted": defaulted}  # fmt: skip
    return pd.DataFrame(frame)


def build(root: Path, backend: str, train_rows: int) -> tuple[Domain, int, Principal, Path]:
    domain = init_domain(Settings(home=root / "home", database_url=None))[0]
    demo = write_demo_files(root / "raw", 3000, seed=7)
    credit_csv, credit_yaml = root / "raw" / "rural_credit.csv", root / "raw" / "credit.yaml"
    credit_rows(train_rows, seed=1).to_csv(credit_csv, index=False)
    credit_yaml.write_text(CREDIT_SCHEMA, "utf-8")
    for data, schema in (demo, (credit_csv, credit_yaml)):
        with domain.transaction() as session:
            ingest(session, domain.home, data, load_schema(schema), AUTHORITY)
    with domain.transaction() as session:
        add_operator(session, "bench-co", AUTHORITY)
        user = Principal.of(add_user(session, "op", "operator", "bench-co", AUTHORITY))
        names = ["enterprise_utilities", "rural_credit"]
        license = grant_license(
            session, operator="bench-co",
            schemas={n: get_dataset(session, n).schema() for n in names},
            max_level="L3", purpose="bench", valid_until=date.today() + timedelta(days=3),
            actor=AUTHORITY, epsilon=1e6,
        )  # fmt: skip
        return domain, license.id, user, credit_csv


def as_job(domain: Domain, license_id: int, user: Principal, settings) -> float:
    started = time.perf_counter()
    with domain.transaction() as session:
        job_id = submit_sql(session, license_id, user, SQL, settings).id
    done = run(domain.sessions, domain.home, job_id, settings)
    assert done.status == "awaiting_review", done.failure
    return time.perf_counter() - started


def through_broker(domain: Domain, license_id: int, user: Principal, settings, n: int) -> list:
    source = (
        "import io, json, time\nimport pandas as pd\nfrom sluice_runtime import broker\n"
        "times = []\n"
        f"for _ in range({n}):\n    t = time.perf_counter()\n"
        f"    header, payload = broker.call({{'op': 'query', 'sql': {SQL!r}}})\n"
        "    pd.read_parquet(io.BytesIO(payload))\n"
        "    times.append([time.perf_counter() - t, header['broker_seconds']])\n"
        "json.dump(times, open('/out/times.json', 'w'))\n"
    )
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(source)]
    with domain.transaction() as session:
        job_id = submit_notebook(session, license_id, user, nbformat.writes(book), settings).id
    done = run(domain.sessions, domain.home, job_id, settings)
    assert done.status == "awaiting_review", done.failure
    return json.loads((domain.home.jobs / str(job_id) / "out" / "times.json").read_text())


def dp_model(domain: Domain, license_id: int, user: Principal, settings, epsilon: float):
    request = {"model": "logistic_regression", "features": FEATURES, "label": "defaulted",
               "sql": "SELECT income, land_mu, debt_ratio, defaulted FROM rural_credit",
               "epsilon": epsilon}  # fmt: skip
    with domain.transaction() as session:
        job_id, _ = submit_model(session, license_id, user, request)
    done = run(domain.sessions, domain.home, job_id, settings)
    assert done.status == "awaiting_review", done.failure
    return DpModel.from_json(
        (domain.home.jobs / str(job_id) / "candidate" / "model.json").read_text()
    )


def private_free(train: pd.DataFrame):
    from sklearn.linear_model import LogisticRegression

    lower = np.array([0.0, 0.0, 0.0])
    span = np.array([200_000.0, 100.0, 2.0])
    fitted = LogisticRegression(max_iter=1000).fit(
        (train[FEATURES] - lower) / span, train["defaulted"]
    )
    return lambda frame: fitted.predict((frame[FEATURES] - lower) / span)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="bubblewrap")
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--epsilon", type=float, action="append")
    args = parser.parse_args()
    epsilons = args.epsilon or [0.5, 1.0, 2.0, 5.0]
    with tempfile.TemporaryDirectory(prefix="bench-broker-") as scratch:
        domain, license_id, user, credit_csv = build(Path(scratch), args.backend, args.train_rows)
        settings = dataclasses.replace(domain.settings.job_settings(), backend=args.backend)
        as_job(domain, license_id, user, settings)  # warm caches (filtered files, imports)
        jobs = [as_job(domain, license_id, user, settings) for _ in range(args.queries)]
        timed = through_broker(domain, license_id, user, settings, args.queries)
        broker, handled = [t[0] for t in timed], [t[1] for t in timed]
        job_ms, broker_ms = statistics.median(jobs) * 1000, statistics.median(broker) * 1000
        print(f"## Broker overhead ({args.backend}, {args.queries} runs each, medians)\n")
        print("| path | median ms | min ms | max ms |\n|---|---:|---:|---:|")
        paths = (
            ("SQL job (submit + run), host", jobs),
            ("query() round trip, in the notebook", broker),
            ("of which: the broker's child job, host", handled),
        )
        for name, times in paths:
            ms = [t * 1000 for t in times]
            print(f"| {name} | {statistics.median(ms):.0f} | {min(ms):.0f} | {max(ms):.0f} |")
        wire = statistics.median([(b - h) * 1000 for b, h in zip(broker, handled, strict=True)])
        print(f"\nquery() median minus SQL job median: {broker_ms - job_ms:+.0f} ms")
        print(f"round trip minus the broker's own handling, per call (median): {wire:.0f} ms")
        print("(target: query() within 100 ms of the same SQL as a job)\n")

        train = pd.read_csv(credit_csv)
        holdout = credit_rows(20_000, seed=2)
        truth = holdout["defaulted"].to_numpy()
        baseline = (private_free(train)(holdout) == truth).mean()
        majority = max(truth.mean(), 1 - truth.mean())
        print(f"## DP logistic regression, {len(train)} training rows, 20000 holdout rows\n")
        print("| model | ε | holdout accuracy |\n|---|---:|---:|")
        print(f"| majority class | – | {majority:.3f} |")
        print(f"| scikit-learn LogisticRegression (not private) | ∞ | {baseline:.3f} |")
        rows = holdout[FEATURES].to_dict("records")
        for epsilon in epsilons:
            model = dp_model(domain, license_id, user, settings, epsilon)
            accuracy = (np.array(model.predict(rows)) == truth).mean()
            print(f"| diffprivlib LogisticRegression via fit() | {epsilon:g} | {accuracy:.3f} |")
        domain.engine.dispose()


if __name__ == "__main__":
    main()
