"""The `sluice` command line: thin commands over the domain packages.

Each command opens the domain, calls one domain function inside a transaction,
and prints the result (one JSON document with --json).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from audit_log import Actor, export_entries, verify_store
from catalog import get_dataset, ingest, list_datasets
from catalog.schema import load_schema
from core.errors import InvalidInput
from operators.accounts import HOST_ADMIN, add_operator, add_user, create_token, get_user
from operators.licenses import grant_license, list_licenses, revoke_license
from products.listing import get_product, list_product, list_products
from products.release import release_of
from products.review import review
from sandbox.jobs import decide, get_job, list_jobs, run, submit_sql
from service.domain import Domain, init_domain, open_domain
from service.output import emit, handles_errors
from service.settings import Settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Sluice: 数据可用不可见.",
)
catalog_app = typer.Typer(no_args_is_help=True, help="Datasets (资源目录).")
operators_app = typer.Typer(no_args_is_help=True, help="Operating companies (授权运营单位).")
users_app = typer.Typer(no_args_is_help=True, help="Users and roles.")
tokens_app = typer.Typer(no_args_is_help=True, help="API tokens.")
licenses_app = typer.Typer(no_args_is_help=True, help="Licenses (授权).")
policy_app = typer.Typer(no_args_is_help=True, help="The policy engine.")
jobs_app = typer.Typer(no_args_is_help=True, help="SQL and notebook jobs.")
review_app = typer.Typer(no_args_is_help=True, help="Output review (出域审核).")
outputs_app = typer.Typer(no_args_is_help=True, help="Output checks.")
products_app = typer.Typer(no_args_is_help=True, help="Data products (数据产品).")
audit_app = typer.Typer(no_args_is_help=True, help="The audit log.")
for sub, name in [
    (catalog_app, "catalog"),
    (operators_app, "operators"),
    (users_app, "users"),
    (tokens_app, "tokens"),
    (licenses_app, "licenses"),
    (policy_app, "policy"),
    (jobs_app, "jobs"),
    (review_app, "review"),
    (outputs_app, "outputs"),
    (products_app, "products"),
    (audit_app, "audit"),
]:
    app.add_typer(sub, name=name)

Json = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
ADMIN = Actor("host-admin", "admin")


def domain() -> Domain:
    return open_domain(Settings())


def read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{what} file {path} does not exist; check the path") from None


@app.command()
@handles_errors("init")
def init(as_json: Json = False) -> None:
    """Create the domain home: database, keys, folders. Safe to run again."""
    d, created = init_domain(Settings())
    data = {
        "home": str(d.home.root),
        "created": created,
        "database": d.settings.url.split("://")[0],
    }
    emit(data, as_json, f"{'created' if created else 'already set up'}: {d.home.root}")


@catalog_app.command("ingest")
@handles_errors("catalog.ingest")
def catalog_ingest(
    file: Path, schema: Annotated[Path, typer.Option()], as_json: Json = False
) -> None:
    """Register a dataset and desensitize it into the domain store."""
    d = domain()
    spec = load_schema(schema)
    if not file.exists():
        raise InvalidInput(f"data file {file} does not exist; check the path")
    progress = None if as_json else (lambda step: typer.echo(f"  … {step}", err=True))
    with d.transaction() as session:
        dataset = ingest(session, d.home, file, spec, ADMIN, progress=progress)
        data = dataset.to_dict()
    emit(data, as_json, f"ingested {data['name']}: {data['row_count']} rows")


@catalog_app.command("list")
@handles_errors("catalog.list")
def catalog_list(as_json: Json = False) -> None:
    with domain().transaction() as session:
        data = [d.to_dict() for d in list_datasets(session)]
    emit(
        data,
        as_json,
        lambda rows: (
            "\n".join(f"{r['name']}\t{r['title']}\t{r['row_count']} rows" for r in rows)
            or "no datasets"
        ),
    )


@catalog_app.command("show")
@handles_errors("catalog.show")
def catalog_show(dataset: str, as_json: Json = False) -> None:
    with domain().transaction() as session:
        data = get_dataset(session, dataset).to_dict()
    emit(data, as_json)


@operators_app.command("add")
@handles_errors("operators.add")
def operators_add(name: str, as_json: Json = False) -> None:
    with domain().transaction() as session:
        data = add_operator(session, name, ADMIN).to_dict()
    emit(data, as_json, f"operator {data['id']}: {data['name']}")


@users_app.command("add")
@handles_errors("users.add")
def users_add(
    name: str,
    role: Annotated[str, typer.Option()],
    operator: Annotated[str | None, typer.Option()] = None,
    as_json: Json = False,
) -> None:
    with domain().transaction() as session:
        data = add_user(session, name, role, operator, ADMIN).to_dict()
    emit(data, as_json, f"user {data['name']} ({data['role']})")


@tokens_app.command("create")
@handles_errors("tokens.create")
def tokens_create(user: str, days: int = 90, as_json: Json = False) -> None:
    """Print a new bearer token for USER; it is shown once and stored only hashed."""
    with domain().transaction() as session:
        token = create_token(session, get_user(session, user), ADMIN, days)
    emit({"token": token}, as_json, token)


@licenses_app.command("grant")
@handles_errors("licenses.grant")
def licenses_grant(
    operator: Annotated[str, typer.Option()],
    dataset: Annotated[list[str], typer.Option()],
    max_level: Annotated[str, typer.Option()],
    purpose: Annotated[str, typer.Option()],
    until: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    row_filter: Annotated[str | None, typer.Option()] = None,
    epsilon: Annotated[float, typer.Option()] = 10.0,
    as_json: Json = False,
) -> None:
    try:
        valid_until = date.fromisoformat(until)
    except ValueError:
        raise InvalidInput(f"--until {until!r} is not a date; use YYYY-MM-DD") from None
    with domain().transaction() as session:
        schemas = {name: get_dataset(session, name).schema() for name in dataset}
        record = grant_license(
            session,
            operator=operator,
            schemas=schemas,
            max_level=max_level,
            purpose=purpose,
            valid_until=valid_until,
            actor=ADMIN,
            row_filter=row_filter,
            epsilon=epsilon,
        )
        data = record.to_dict(operator)
    emit(data, as_json, f"license {data['id']} granted to {operator}")


@licenses_app.command("list")
@handles_errors("licenses.list")
def licenses_list(as_json: Json = False) -> None:
    with domain().transaction() as session:
        data = [lic.to_dict(name) for lic, name in list_licenses(session)]
    emit(
        data,
        as_json,
        lambda rows: (
            "\n".join(
                f"{r['id']}\t{r['operator']}\t{','.join(r['datasets'])}\t{r['max_level']}\t{r['status']}\t"
                f"until {r['valid_until']}\tε {r['epsilon_spent']}/{r['epsilon_total']}"
                for r in rows
            )
            or "no licenses"
        ),
    )


@licenses_app.command("revoke")
@handles_errors("licenses.revoke")
def licenses_revoke(license_id: int, reason: str = "", as_json: Json = False) -> None:
    with domain().transaction() as session:
        data = revoke_license(session, license_id, ADMIN, reason).to_dict()
    emit(data, as_json, f"license {license_id} revoked")


@policy_app.command("check")
@handles_errors("policy.check")
def policy_check(
    license: Annotated[int, typer.Option()],
    sql: Annotated[Path, typer.Option()],
    as_json: Json = False,
) -> None:
    """Show what the policy engine would do with a query, without running it."""
    d = domain()
    with d.transaction() as session:
        decision = decide(session, license, read_text(sql, "SQL"), d.settings.epsilon_per_query)
    emit(decision.to_dict(), as_json, format_decision)


def format_decision(data: dict) -> str:
    lines = [f"decision: {data['decision']}"]
    lines += [
        f"  - {r['message']}" + (f" — {r['suggestion']}" if r.get("suggestion") else "")
        for r in data["reasons"]
    ]
    if data.get("sql"):
        lines.append(f"sql:\n{data['sql']}")
    return "\n".join(lines)


@jobs_app.command("submit")
@handles_errors("jobs.submit")
def jobs_submit(
    license: Annotated[int, typer.Option()],
    sql: Annotated[Path | None, typer.Option()] = None,
    notebook: Annotated[Path | None, typer.Option()] = None,
    engine: Annotated[str, typer.Option()] = "duckdb",
    wait: Annotated[bool, typer.Option("--wait")] = False,
    as_json: Json = False,
) -> None:
    """Submit a query; without --wait it runs in the background."""
    if (sql is None) == (notebook is None):
        raise InvalidInput("give exactly one of --sql FILE or --notebook FILE")
    if notebook is not None:
        raise InvalidInput("notebook jobs are not supported yet; submit SQL with --sql")
    d = domain()
    assert sql is not None
    with d.transaction() as session:
        job = submit_sql(
            session, license, HOST_ADMIN, read_text(sql, "SQL"), d.settings.job_settings(), engine
        )
        job_id, status = job.id, job.status
    if status == "queued":
        if wait:
            status = run(d.sessions, d.home, job_id, d.settings.job_settings()).status
        else:
            subprocess.Popen(
                [sys.executable, "-m", "service.cli", "jobs", "run", str(job_id)],
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
    show_job(d, job_id, as_json)


def show_job(d: Domain, job_id: int, as_json: bool) -> None:
    with d.transaction() as session:
        job = get_job(session, job_id)
        release = release_of(session, job_id)
        data = job.to_dict(release.files if release else [])
    emit(
        data,
        as_json,
        lambda j: (
            f"job {j['id']}: {j['status']}"
            + "".join(f"\n  - {r['message']}" for r in j["reasons"])
            + (f"\n  failure: {j['failure']}" if j["failure"] else "")
        ),
    )


@jobs_app.command("show")
@handles_errors("jobs.show")
def jobs_show(job_id: int, as_json: Json = False) -> None:
    show_job(domain(), job_id, as_json)


@jobs_app.command("list")
@handles_errors("jobs.list")
def jobs_list(as_json: Json = False) -> None:
    with domain().transaction() as session:
        data = [j.to_dict() for j in list_jobs(session)]
    emit(
        data,
        as_json,
        lambda rows: (
            "\n".join(f"{r['id']}\t{r['status']}\tlicense {r['license_id']}" for r in rows)
            or "no jobs"
        ),
    )


@jobs_app.command("run", hidden=True)
@handles_errors("jobs.run")
def jobs_run(job_id: int, as_json: Json = False) -> None:
    """Run a queued job now (what the background runner does)."""
    d = domain()
    job = run(d.sessions, d.home, job_id, d.settings.job_settings())
    emit(job.to_dict(), as_json, f"job {job.id}: {job.status}")


def _review(job: int, reviewer: str, decision: str, reason: str, as_json: bool) -> None:
    d = domain()
    with d.transaction() as session:
        user = get_user(session, reviewer)
        review(session, d.home, job, user, decision, reason)
    show_job(d, job, as_json)


@review_app.command("approve")
@handles_errors("review.approve")
def review_approve(
    job: int, reviewer: Annotated[str, typer.Option()], reason: str = "", as_json: Json = False
) -> None:
    _review(job, reviewer, "approve", reason, as_json)


@review_app.command("deny")
@handles_errors("review.deny")
def review_deny(
    job: int, reviewer: Annotated[str, typer.Option()], reason: str = "", as_json: Json = False
) -> None:
    _review(job, reviewer, "deny", reason, as_json)


@outputs_app.command("check")
@handles_errors("outputs.check")
def outputs_check(file: Path, as_json: Json = False) -> None:
    """Run the disclosure checks on a table (CSV or Parquet with companion columns)."""
    from policies.table_file import check_file

    data = check_file(file)
    emit(
        data,
        as_json,
        lambda r: (
            f"{'BLOCKED' if r['blocked'] else 'passes'}: "
            f"{len(r['findings'])} finding(s), {r['suppressed_share']:.0%} suppressed"
        ),
    )


@products_app.command("add")
@handles_errors("products.add")
def products_add(
    release: Annotated[int, typer.Option()],
    name: Annotated[str, typer.Option()],
    description: str = "",
    scenario: str = "",
    price: float = 0.0,
    as_json: Json = False,
) -> None:
    with domain().transaction() as session:
        data = list_product(
            session, release, HOST_ADMIN, name, description, scenario, price
        ).to_dict()
    emit(data, as_json, f"product {data['id']}: {data['name']}")


@products_app.command("list")
@handles_errors("products.list")
def products_list(as_json: Json = False) -> None:
    with domain().transaction() as session:
        data = [p.to_dict() for p in list_products(session)]
    emit(
        data,
        as_json,
        lambda rows: (
            "\n".join(f"{r['id']}\t{r['name']}\t¥{r['price_yuan']}" for r in rows) or "no products"
        ),
    )


@products_app.command("show")
@handles_errors("products.show")
def products_show(product_id: int, as_json: Json = False) -> None:
    with domain().transaction() as session:
        data = get_product(session, product_id).to_dict()
    emit(data, as_json)


@audit_app.command("verify")
@handles_errors("audit.verify")
def audit_verify(as_json: Json = False) -> None:
    with domain().transaction() as session:
        result = verify_store(session).to_dict()
    emit(
        result,
        as_json,
        lambda r: (
            f"{'ok' if r['ok'] else 'FAILED'}: {r['entries']} entries"
            + ("" if r["ok"] else f", first bad entry {r['first_bad_seq']}: {r['problem']}")
        ),
    )
    if not result["ok"]:
        raise typer.Exit(10)


@audit_app.command("export")
@handles_errors("audit.export")
def audit_export(output: Annotated[Path, typer.Option()], as_json: Json = False) -> None:
    d = domain()
    with d.transaction() as session:
        data = export_entries(session, output, d.home.signing_key())
    emit(data, as_json, f"exported {data['entries']} entries to {output}")


@audit_app.command("pubkey")
@handles_errors("audit.pubkey")
def audit_pubkey(output: Annotated[Path, typer.Option()], as_json: Json = False) -> None:
    d = domain()
    output.write_bytes(d.home.public_key_path.read_bytes())
    emit({"path": str(output)}, as_json, f"public key written to {output}")


@app.command()
@handles_errors("serve")
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the REST API and the console."""
    import uvicorn

    from service.api import create_app

    uvicorn.run(create_app(Settings()), host=host, port=port)


@app.command()
@handles_errors("demo")
def demo(rows: int = 100_000, as_json: Json = False) -> None:
    """Run the whole path on synthetic data: ingest, license, three queries, review, release."""
    from service.demo import run_demo

    emit(run_demo(Settings(), rows, quiet=as_json), as_json, "")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
