"""`sluice licenses|policy`: the license lifecycle (apply, approve or narrow, refuse,
suspend, reinstate, revoke, expire, grant); ask the policy engine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from core.errors import InvalidInput
from operators.records import DEFAULT_DELTA
from service.commands.common import Json, admin, domain, read_text
from service.output import emit, emit_rows, handles_errors

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from operators.records import License

licenses_app = typer.Typer(no_args_is_help=True, help="Licenses (授权).")
RowFilters = Annotated[
    list[str] | None,
    typer.Option(
        "--row-filter",
        metavar="DATASET:EXPR",
        help="rows of DATASET the license covers (行范围), e.g. "
        "\"enterprise_utilities:district = '镇海区'\"; repeat for other datasets",
    ),
]
DELTA_HELP = "δ budget, spent by releases whose keys are chosen by differential privacy"
policy_app = typer.Typer(no_args_is_help=True, help="The policy engine.")
LicenseId = Annotated[int, typer.Argument(help="The licence's id (see `sluice licenses list`).")]
Company = Annotated[str, typer.Option(help="The operating company's name.")]
Datasets = Annotated[list[str], typer.Option(help="A dataset the licence covers; repeat.")]
MaxLevel = Annotated[str, typer.Option(help="The highest level it may read: L1, L2 or L3.")]
Purpose = Annotated[str, typer.Option(help="What the data is used for (用途).")]
Epsilon = Annotated[float, typer.Option(help="The privacy budget ε for the whole term.")]
Note = Annotated[str, typer.Option(help="A note kept with the decision.")]
Why = Annotated[str, typer.Option(help="Why; kept in the audit log.")]


@licenses_app.command("grant")
@handles_errors("licenses.grant")
def licenses_grant(
    operator: Company,
    dataset: Datasets,
    max_level: MaxLevel,
    purpose: Purpose,
    until: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    row_filter: RowFilters = None,
    epsilon: Epsilon = 10.0,
    scenario: Annotated[str, typer.Option(help="应用场景")] = "",
    delta: Annotated[float, typer.Option(help=DELTA_HELP)] = DEFAULT_DELTA,
    as_json: Json = False,
) -> None:
    """Grant a license directly, without an application."""
    from catalog import get_dataset
    from catalog.row_filter import row_filters_from
    from operators.licenses import grant_license

    valid_until = _date(until, "--until") or date.today()
    with domain().transaction() as session:
        schemas = {name: get_dataset(session, name).schema() for name in dataset}
        record = grant_license(
            session,
            operator=operator,
            schemas=schemas,
            max_level=max_level,
            purpose=purpose,
            valid_until=valid_until,
            actor=admin(),
            row_filters=row_filters_from(row_filter or []),
            epsilon=epsilon,
            scenario=scenario,
            delta=delta,
        )
        data = record.to_dict(operator)
    emit(data, as_json, f"license {data['id']} granted to {operator}")


@licenses_app.command("list")
@handles_errors("licenses.list")
def licenses_list(
    status: Annotated[str | None, typer.Option(help="pending, active, suspended, ...")] = None,
    as_json: Json = False,
) -> None:
    """List licences: company, datasets, level, status, term, ε spent and row filters."""
    from operators.licenses import list_licenses

    with domain().transaction() as session:
        data = [lic.to_dict(name) for lic, name in list_licenses(session)]
    data = [r for r in data if status is None or r["status"] == status]
    columns = [
        ("id", "licence"),
        ("operator", "company"),
        ("datasets", "datasets"),
        ("max_level", "level"),
        ("status", "status"),
        ("valid_until", "until"),
        ("epsilon_spent", "ε spent"),
        ("epsilon_total", "ε total"),
        ("delta_spent", "δ spent"),
        ("delta_total", "δ total"),
        ("row_filters", "row filters"),
    ]
    emit_rows(data, as_json, columns, "no licenses")


EngineName = Annotated[
    str, typer.Argument(help="duckdb (in the sandbox) or spark (data too large for one DuckDB).")
]


@licenses_app.command("set-engine")
@handles_errors("licenses.set-engine")
def licenses_set_engine(license_id: LicenseId, engine: EngineName, as_json: Json = False) -> None:
    """Set the engine this licence's SQL jobs run on when the operator names none
    (it wins over its datasets' defaults)."""
    from jobs.engines import set_engine_default

    with domain().transaction() as session:
        data = set_engine_default(session, engine, admin(), license_id=license_id).to_dict()
    emit(data, as_json, f"license {license_id}: SQL jobs run on {engine} by default")


def _date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput.coded("cli_option_not_date", option=option, text=text) from None


def _shown(session: Session, record: License) -> dict:
    from operators.records import Operator

    company = session.get(Operator, record.operator_id)
    return record.to_dict(company.name if company else None)


@licenses_app.command("apply")
@handles_errors("licenses.apply")
def licenses_apply(
    operator: Company,
    dataset: Datasets,
    max_level: MaxLevel,
    purpose: Purpose,
    scenario: Annotated[str, typer.Option(help="应用场景")],
    until: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    epsilon: Epsilon = 10.0,
    delta: Annotated[float, typer.Option(help=DELTA_HELP)] = DEFAULT_DELTA,
    valid_from: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD")] = None,
    row_filter: RowFilters = None,
    as_json: Json = False,
) -> None:
    """File an application on an operator's behalf; it stays pending until decided."""
    from catalog.row_filter import row_filters_from
    from operators.accounts import get_operator
    from operators.lifecycle import apply_for_license

    with domain().transaction() as session:
        record = apply_for_license(
            session,
            operator_id=get_operator(session, operator).id,
            datasets=dataset,
            max_level=max_level,
            purpose=purpose,
            scenario=scenario,
            valid_until=_date(until, "--until") or date.today(),
            valid_from=_date(valid_from, "--from"),
            epsilon=epsilon,
            actor=admin(),
            row_filters=row_filters_from(row_filter or []),
            delta=delta,
        )
        data = _shown(session, record)
    emit(data, as_json, f"license {data['id']} applied for: pending")


@licenses_app.command("approve")
@handles_errors("licenses.approve")
def licenses_approve(
    license_id: LicenseId,
    dataset: Annotated[list[str] | None, typer.Option(help="narrow to these")] = None,
    max_level: Annotated[str | None, typer.Option(help="narrow to this level")] = None,
    until: Annotated[str | None, typer.Option(help="YYYY-MM-DD, no later than asked")] = None,
    epsilon: Annotated[float | None, typer.Option(help="a smaller ε than asked")] = None,
    delta: Annotated[float | None, typer.Option(help="lower the δ budget")] = None,
    row_filter: RowFilters = None,
    note: Note = "",
    as_json: Json = False,
) -> None:
    """Approve an application as filed, or narrowed (never widened): a row filter adds
    to any the application carries for that dataset."""
    from catalog.row_filter import row_filters_from
    from operators.lifecycle import approve_license

    with domain().transaction() as session:
        record = approve_license(
            session,
            license_id,
            admin(),
            datasets=dataset or None,
            max_level=max_level,
            valid_until=_date(until, "--until"),
            epsilon=epsilon,
            row_filters=row_filters_from(row_filter or []),
            note=note,
            delta=delta,
        )
        data = _shown(session, record)
    emit(data, as_json, f"license {license_id} approved")


def _step(license_id: int, action: str, reason: str, as_json: bool) -> None:

    from audit_log import Actor
    from operators.licenses import revoke_license
    from operators.lifecycle import refuse_license, reinstate_license, suspend_license

    steps: dict[str, Callable[[Session, int, Actor, str], License]] = {
        "refuse": refuse_license,
        "suspend": suspend_license,
        "reinstate": reinstate_license,
        "revoke": revoke_license,
    }
    with domain().transaction() as session:
        data = _shown(session, steps[action](session, license_id, admin(), reason))
    emit(data, as_json, f"license {license_id}: {data['status']}")


@licenses_app.command("refuse")
@handles_errors("licenses.refuse")
def licenses_refuse(license_id: LicenseId, reason: Why, as_json: Json = False) -> None:
    """Refuse a pending application."""
    _step(license_id, "refuse", reason, as_json)


@licenses_app.command("suspend")
@handles_errors("licenses.suspend")
def licenses_suspend(license_id: LicenseId, reason: Why, as_json: Json = False) -> None:
    """Stop use at once: queued jobs do not start; can be reinstated."""
    _step(license_id, "suspend", reason, as_json)


@licenses_app.command("reinstate")
@handles_errors("licenses.reinstate")
def licenses_reinstate(license_id: LicenseId, reason: Why = "", as_json: Json = False) -> None:
    """Let a suspended licence be used again."""
    _step(license_id, "reinstate", reason, as_json)


@licenses_app.command("revoke")
@handles_errors("licenses.revoke")
def licenses_revoke(license_id: LicenseId, reason: Why = "", as_json: Json = False) -> None:
    """Withdraw a licence for good; its queued jobs do not start."""
    _step(license_id, "revoke", reason, as_json)


@licenses_app.command("expire")
@handles_errors("licenses.expire")
def licenses_expire(as_json: Json = False) -> None:
    """Record the expiry of every license whose term has passed (run daily)."""
    from operators.lifecycle import expire_licenses

    with domain().transaction() as session:
        expired = expire_licenses(session, admin())
    emit({"expired": expired}, as_json, f"{len(expired)} license(s) expired")


@licenses_app.command("show")
@handles_errors("licenses.show")
def licenses_show(license_id: LicenseId, as_json: Json = False) -> None:
    """Show one licence in full."""
    from operators.licenses import get_license

    with domain().transaction() as session:
        data = _shown(session, get_license(session, license_id))
    emit(data, as_json)


@policy_app.command("check")
@handles_errors("policy.check")
def policy_check(
    license: Annotated[int, typer.Option(help="The licence to check under.")],
    sql: Annotated[Path, typer.Option(help="A file holding one SQL query.")],
    as_json: Json = False,
) -> None:
    """Show what the policy engine would do with a query, without running it."""
    from jobs.submit import decide, plan_query, policy_inputs

    d = domain()
    query, settings = read_text(sql, "SQL"), d.settings.job_settings()
    epsilon, budget = settings.epsilon_per_query, settings.query_budget
    with d.transaction() as session:
        inputs = policy_inputs(session, license)
    planned = plan_query(inputs, query, epsilon, budget)  # no transaction open meanwhile
    with d.transaction() as session:
        decision = decide(session, license, query, epsilon, budget, planned)
    emit(decision.to_dict(), as_json, format_decision)


def format_decision(data: dict) -> str:
    lines = [f"decision: {data['decision']}"]
    lines += [
        f"  - {r['message']}" + (f" — {r['suggestion']}" if r.get("suggestion") else "")
        for r in data["reasons"]
    ]
    if data.get("noise"):
        lines.append(f"noise (ε={data['epsilon']:g} in all; 95 % of values within ±):")
        lines += [f"  {_noise_line(n)}" for n in data["noise"]]
    if data.get("sql"):
        lines.append(f"sql:\n{data['sql']}")
    return "\n".join(lines)


def _noise_line(noise: dict) -> str:
    """One noisy column: its ε, its 95 % half-width and the step its values come in."""
    width, steps = _figure(noise["ci95"]), f"in steps of {_figure(noise['granularity'])}"
    if noise.get("ci95_divisor") == "rows":
        width += f" / rows in the group (rows ±{_figure(noise['count_ci95'])})"
        steps = f"its sum {steps}"
    return f"{noise['column']} ({noise['kind']}): ε={noise['epsilon']:g}, ±{width}, {steps}"


def _figure(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.6g}"
