"""`sluice operators|users|tokens`: companies, users and their API tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from operators.accounts import add_operator, add_user, create_token, get_user
from service.commands.common import ADMIN, Json, domain
from service.output import emit, handles_errors

operators_app = typer.Typer(no_args_is_help=True, help="Operating companies (授权运营单位).")
users_app = typer.Typer(no_args_is_help=True, help="Users and roles.")
tokens_app = typer.Typer(no_args_is_help=True, help="API tokens.")


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
