"""`sluice operators|users|tokens`: companies, users and their API tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from operators.accounts import add_operator, add_user, create_token, get_user, revoke_tokens
from operators.passwords import set_password
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


@users_app.command("password")
@handles_errors("users.password")
def users_password(
    name: str,
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="SLUICE_NEW_PASSWORD",
            help="The new password (asked for when not given; at least 12 characters).",
        ),
    ],
    as_json: Json = False,
) -> None:
    """Set USER's console password (stored as an Argon2id hash only)."""
    with domain().transaction() as session:
        set_password(session, get_user(session, name), password, ADMIN)
    emit({"user": name, "password_set": True}, as_json, f"password set for {name}")


@tokens_app.command("create")
@handles_errors("tokens.create")
def tokens_create(user: str, days: int = 90, as_json: Json = False) -> None:
    """Print a new bearer token for USER; it is shown once and stored only hashed."""
    with domain().transaction() as session:
        token = create_token(session, get_user(session, user), ADMIN, days)
    emit({"token": token}, as_json, token)


@tokens_app.command("revoke")
@handles_errors("tokens.revoke")
def tokens_revoke(user: str, token_id: int | None = None, as_json: Json = False) -> None:
    """Revoke USER's tokens (all of them, or the one with --token-id); refused at once."""
    with domain().transaction() as session:
        revoked = revoke_tokens(session, get_user(session, user), ADMIN, token_id)
    emit({"revoked": revoked}, as_json, f"revoked {len(revoked)} token(s) of {user}")
