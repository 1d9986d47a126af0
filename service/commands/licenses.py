"""`sluice licenses|policy`: grant and revoke licenses; ask the policy engine."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from catalog import get_dataset
from core.errors import InvalidInput
from operators.licenses import grant_license, list_licenses, revoke_license
from sandbox.jobs import decide
from service.commands.common import ADMIN, Json, domain, read_text
from service.output import emit, handles_errors

licenses_app = typer.Typer(no_args_is_help=True, help="Licenses (授权).")
policy_app = typer.Typer(no_args_is_help=True, help="The policy engine.")


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
