"""`sluice demo`: the whole path on synthetic data, printed step by step.

It plays every role in turn: the data authority registers data and grants a
license, an operator submits three queries, reviewers approve, the operator
lists a product, and a regulator verifies the audit log. It ends with a 信用惠农-style
interface product and a bank calling it without and with an applicant's consent.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import typer

from audit_log import Actor, export_entries, verify_export, verify_store
from catalog import ingest
from catalog.schema import load_schema
from catalog.synthetic import write_demo_files, write_social_security_files
from core.errors import Conflict, Step
from gate.step import candidate_table
from jobs.dp_fit import submit_model
from jobs.queries import get_job
from jobs.runner import run
from jobs.submit import submit
from operators.accounts import Principal, add_operator, add_user, create_token
from operators.licenses import grant_license
from products.listing import list_product
from products.release import release_of
from products.review import review
from service.demo_interface import interface_demo
from service.domain import Domain, init_domain
from service.settings import Settings

MARKER = ".sluice-demo-home"
AUTHORITY = Actor("宁波市大数据发展管理局", "authority")
QUERIES = {
    "allowed": "SELECT district, industry, COUNT(*) AS enterprises\n"
    "FROM enterprise_utilities\nGROUP BY district, industry\nORDER BY district, industry",
    "rewritten": "SELECT district, AVG(water_fee) AS avg_water_fee,\n"
    "       SUM(electricity_fee) AS total_electricity, COUNT(*) AS enterprises\n"
    "FROM enterprise_utilities\nWHERE industry = '制造业'\nGROUP BY district",
    "denied": "SELECT enterprise_id, phone, water_fee\nFROM enterprise_utilities\n"
    "WHERE district = '镇海区'",
}


STEPS = 9  # headings printed by run_demo, for a progress bar


class Printer:
    def __init__(self, quiet: bool, on_step: Callable[[str, float | None], None] | None = None):
        self.quiet, self.started, self.step = quiet, time.perf_counter(), 0
        self.on_step = on_step

    def heading(self, text: str) -> None:
        self.step += 1
        if self.on_step is not None:
            self.on_step(text, self.step)
        if not self.quiet:
            elapsed = time.perf_counter() - self.started
            typer.secho(f"\n[{self.step}] {text}  ({elapsed:.1f}s)", bold=True)

    def line(self, text: str = "") -> None:
        if not self.quiet:
            typer.echo("    " + text.replace("\n", "\n    "))


def home_in_use(settings: Settings) -> bool:
    root = settings.domain_home.root
    return root.exists() and any(root.iterdir())


def holds_earlier_demo(settings: Settings) -> bool:
    return home_in_use(settings) and (settings.domain_home.root / MARKER).exists()


def _fresh_home(settings: Settings, fresh: bool) -> None:
    """An empty home for the demo; an earlier demo's is deleted only when asked (fresh)."""
    root = settings.domain_home.root
    if home_in_use(settings):
        if not (root / MARKER).exists():
            raise Conflict.coded("svc_demo_foreign_home", root=str(root))
        if not fresh:
            raise Conflict.coded(
                "svc_demo_earlier_home",
                root=str(root),
                suggestion="ask for a fresh run to delete it and start again",
                step=Step.DEMO_FRESH,
            )
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("created by `sluice demo`; safe to delete\n")


def _ingest_demo_data(d: Domain, rows: int, out: Printer) -> tuple[dict[str, int], str]:
    """Counts per dataset, and one enterprise's credit code (a bank's loan applicant)."""
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="sluice-raw-") as raw:
        enterprises = write_demo_files(Path(raw), rows, seed=20261123)
        frame = pd.read_csv(enterprises[0], dtype={"enterprise_id": str})
        applicant = str(frame["enterprise_id"].iloc[0])
        files = [enterprises, write_social_security_files(Path(raw), frame, seed=20261124)]
        for data_file, schema_file in files:
            schema = load_schema(schema_file)
            with d.transaction() as session:
                dataset = ingest(session, d.home, data_file, schema, AUTHORITY, progress=None)
                counts[dataset.name] = dataset.row_count
            levels = ", ".join(f"{c.name}:{c.level.value}" for c in schema.columns)
            out.line(f"{dataset.name} ({schema.title}): {dataset.row_count:,} rows  [{levels}]")
    out.line("raw files deleted; only desensitized Parquet remains in the domain store")
    return counts, applicant


def _people(d: Domain, out: Printer) -> dict[str, Any]:
    with d.transaction() as session:
        company = add_operator(session, "甬城数据运营有限公司", AUTHORITY)
        operator = add_user(session, "li.analyst", "operator", company.name, AUTHORITY)
        reviewers = [
            add_user(session, n, "reviewer", None, AUTHORITY)
            for n in ("wang.review", "zhao.review")
        ]
        regulator = add_user(session, "chen.regulator", "regulator", None, AUTHORITY)
        create_token(session, operator, AUTHORITY)
        people: dict[str, Any] = {
            "company": company.name,
            "operator": Principal.of(operator),
            "reviewers": [r.name for r in reviewers],
            "regulator": regulator.name,
        }
    out.line(f"operator company: {people['company']} (user li.analyst)")
    out.line(f"reviewers: {', '.join(people['reviewers'])}; regulator: {people['regulator']}")
    return people


def _license(d: Domain, company: str, out: Printer) -> int:
    from catalog import get_dataset

    with d.transaction() as session:
        names = ["enterprise_utilities", "social_insurance"]
        schemas = {n: get_dataset(session, n).schema() for n in names}
        record = grant_license(
            session,
            operator=company,
            schemas=schemas,
            max_level="L3",
            purpose="小微企业经营状况评估 (SME operating-condition assessment)",
            valid_until=date.today() + timedelta(days=365),
            actor=AUTHORITY,
            epsilon=10.0,
        )
        out.line(
            f"license {record.id}: {', '.join(names)} up to L3, ε budget {record.epsilon_total}, "
            f"until {record.valid_until}"
        )
        return record.id


def _submit(d: Domain, license_id: int, who: Principal, label: str, out: Printer) -> dict[str, Any]:
    with d.transaction() as session:
        job = submit(session, license_id, who, d.settings.job_settings(), sql=QUERIES[label])
        data = job.to_dict()
    out.line(f"-- {label} query (job {data['id']}):\n{QUERIES[label]}")
    out.line(f"=> decision: {data['decision'].upper()}")
    for reason in data["reasons"]:
        out.line(f"   - {reason['message']} — {reason.get('suggestion', '')}")
    if data["decision"] == "rewrite":
        out.line("   rewritten SQL (what actually runs):\n" + _indent(data["rewritten_sql"]))
    return data


def _indent(sql: str) -> str:
    import sqlglot

    return "\n".join(
        "     " + line
        for line in sqlglot.transpile(sql, read="duckdb", write="duckdb", pretty=True)[
            0
        ].splitlines()
    )


def _run_and_review(d: Domain, job_id: int, reviewers: list[str], out: Printer) -> dict[str, Any]:
    job = run(d.sessions, d.home, job_id, d.settings.job_settings())
    gate = job.gate
    out.line(
        f"job {job_id}: sandbox {job.resources.get('backend')} "
        f"{job.resources.get('seconds')}s → {job.status}; gate: {gate.get('cells_checked')} cells, "
        f"{len(gate.get('findings', []))} finding(s), "
        f"{gate.get('suppressed_share', 0):.0%} suppressed"
    )
    if job.status != "awaiting_review":
        return job.to_dict()
    from operators.accounts import get_user

    for name in reviewers[: job.required_reviews]:
        with d.transaction() as session:
            review(session, d.home, job_id, get_user(session, name), "approve", "checks passed")
        out.line(f"approved by {name}")
    with d.transaction() as session:
        final = get_job(session, job_id)
        release = release_of(session, job_id)
        table = candidate_table(d.home, final)
        data = final.to_dict(release.files if release else [])
        data["release"] = release.to_dict() if release else None
    out.line(f"job {job_id}: {data['status']} as {data['release']['package'] if release else '-'}")
    out.line(_preview(table))
    return data


MODEL_REQUEST = {
    "model": "linear_regression",
    "sql": "SELECT employees, capital, electricity_fee FROM enterprise_utilities",
    "features": ["employees", "capital"],
    "label": "electricity_fee",
    "epsilon": 1.0,
}


def _train_model(d: Domain, license_id: int, people: dict[str, Any], out: Printer) -> dict:
    """The path a notebook's fit() takes, called directly: a DP model as a data product."""
    from operators.accounts import get_user

    with d.transaction() as session:
        job_id, plan = submit_model(session, license_id, people["operator"], MODEL_REQUEST)
    out.line(f"training SQL (one row per enterprise):\n{_indent(plan.sql)}")
    job = run(d.sessions, d.home, job_id, d.settings.job_settings())
    summary: dict[str, Any] = next(
        (f for f in job.gate.get("files", []) if f.get("kind") == "model"), {}
    )
    out.line(
        f"job {job_id}: {job.status}; {summary.get('model')} ε={summary.get('epsilon')} "
        f"on ~{summary.get('training_rows')} rows"
    )
    if job.status != "awaiting_review":
        return {"id": job_id, "status": job.status}
    for name in people["reviewers"][: job.required_reviews]:
        with d.transaction() as session:
            review(session, d.home, job_id, get_user(session, name), "approve", "model checked")
    with d.transaction() as session:
        release = release_of(session, job_id)
        assert release is not None
        product = list_product(
            session, release.id, people["operator"], "企业用电量估算模型（差分隐私）",
            "由从业人数与注册资本估算企业年用电费用的线性模型，参数经差分隐私训练",
            "信用惠农与园区能耗评估", 500.0,
        ).to_dict()  # fmt: skip
    out.line(f"model released as model.json; product {product['id']}: {product['name']}")
    return {"id": job_id, "status": "released", "product": product["id"], **summary}


def _preview(table: pd.DataFrame, rows: int = 6) -> str:
    with pd.option_context("display.width", 120, "display.max_columns", 10):
        return table.head(rows).to_string(index=False, float_format=lambda v: f"{v:,.1f}")


def run_demo(
    settings: Settings,
    rows: int,
    quiet: bool = False,
    fresh: bool = False,
    on_step: Callable[[str, float | None], None] | None = None,
) -> dict[str, Any]:
    """The whole path on synthetic data. An earlier demo's home is deleted only with
    `fresh`; `on_step(heading, number)` follows the STEPS headings (a progress bar)."""
    out = Printer(quiet, on_step)
    _fresh_home(settings, fresh)
    out.heading(f"Domain initialised at {settings.domain_home.root}")
    d, _ = init_domain(settings)
    out.heading(f"Generating and ingesting {rows:,} synthetic enterprises (Faker zh_CN, 宁波市)")
    counts, applicant = _ingest_demo_data(d, rows, out)
    out.heading("Operator company, reviewers and regulator")
    people = _people(d, out)
    out.heading("Data authority grants a license")
    license_id = _license(d, people["company"], out)
    out.heading("Operator submits three queries")
    jobs = {label: _submit(d, license_id, people["operator"], label, out) for label in QUERIES}
    out.heading("Sandbox runs, output gate, review and release")
    results = {
        label: _run_and_review(d, jobs[label]["id"], people["reviewers"], out)
        for label in ("allowed", "rewritten")
    }
    out.heading("Operator lists a data product")
    release_id = results["rewritten"]["release"]["id"]
    with d.transaction() as session:
        product = list_product(
            session,
            release_id,
            people["operator"],
            "宁波市制造业分区能耗指数",
            "各区制造业企业平均水费与用电总量（差分隐私保护）",
            "园区招商与节能评估",
            2000.0,
        ).to_dict()
    out.line(
        f"product {product['id']}: {product['name']} ¥{product['price_yuan']:,.0f}; "
        f"package sha256 {product['provenance']['package_sha256'][:16]}…"
    )
    out.heading("Operator trains a differentially private model (fit(), broker side)")
    model = _train_model(d, license_id, people, out)
    out.heading("Regulator verifies the audit log")
    with d.transaction() as session:
        live = verify_store(session)
        export = export_entries(session, d.home.root / "audit-export.jsonl")
    offline = verify_export(Path(export["path"]), d.home.public_key())
    out.line(
        f"live store: {'ok' if live.ok else 'FAILED'} ({live.entries} entries, head "
        f"{live.head_hash[:16]}…); export verified offline with the public key: "
        f"{'ok' if offline.ok else 'FAILED'}"
    )
    interface = interface_demo(
        d, license_id, people["operator"], people["reviewers"], applicant, out
    )
    out.heading("Done")
    return {
        "home": str(d.home.root),
        "datasets": counts,
        "license": license_id,
        "jobs": {
            k: {
                "id": v["id"],
                "decision": v["decision"],
                "reasons": v["reasons"],
                "rewritten_sql": v["rewritten_sql"],
            }
            for k, v in jobs.items()
        },
        "results": {
            k: {"status": v["status"], "released": v["released"]} for k, v in results.items()
        },
        "product": product,
        "interface": interface,
        "model": model,
        "audit": {"live": live.to_dict(), "export": offline.to_dict()},
        "seconds": round(time.perf_counter() - out.started, 2),
    }
