"""`sluice operators|users|tokens`: companies, users and their API tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from operators.accounts import ROLES
from operators.login_codes import CODE_MINUTES, MAX_MINUTES
from service.commands.common import Json, admin, domain
from service.output import emit, emit_rows, handles_errors

operators_app = typer.Typer(no_args_is_help=True, help="Operating companies (授权运营单位).")
users_app = typer.Typer(no_args_is_help=True, help="Users and roles.")
tokens_app = typer.Typer(no_args_is_help=True, help="API tokens.")

UserName = Annotated[str, typer.Argument(help="The user's login name.")]


@operators_app.command("add")
@handles_errors("operators.add")
def operators_add(
    name: Annotated[str, typer.Argument(help="The company's registered name.")],
    as_json: Json = False,
) -> None:
    """Register an operating company."""
    from operators.accounts import add_operator

    with domain().transaction() as session:
        data = add_operator(session, name, admin()).to_dict()
    emit(data, as_json, f"operator {data['id']}: {data['name']}")


@operators_app.command("list")
@handles_errors("operators.list")
def operators_list(as_json: Json = False) -> None:
    """List the operating companies."""
    from operators import list_operators

    with domain().transaction() as session:
        data = [o.to_dict() for o in list_operators(session)]
    columns = [("id", "id"), ("name", "company"), ("created_at", "registered (UTC)")]
    emit_rows(data, as_json, columns, "no operators")


@users_app.command("add")
@handles_errors("users.add")
def users_add(
    name: UserName,
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    operator: Annotated[
        str | None, typer.Option(help="The user's company (operators only).")
    ] = None,
    as_json: Json = False,
) -> None:
    """Add a user with a role; operators belong to a company."""
    from operators.accounts import add_user

    with domain().transaction() as session:
        data = add_user(session, name, role, operator, admin()).to_dict()
    emit(data, as_json, f"user {data['name']} ({data['role']})")


@users_app.command("password")
@handles_errors("users.password")
def users_password(
    name: Annotated[str, typer.Argument(help="the user whose password to set")],
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
    from operators.accounts import get_user
    from operators.passwords import set_password

    with domain().transaction() as session:
        set_password(session, get_user(session, name), password, admin())
    emit({"user": name, "password_set": True}, as_json, f"password set for {name}")


@users_app.command("one-time-code")
@handles_errors("users.one_time_code")
def users_one_time_code(
    name: Annotated[str, typer.Argument(help="the user who will log in with the code")],
    minutes: Annotated[
        int, typer.Option(min=1, max=MAX_MINUTES, help="Minutes until the code expires.")
    ] = CODE_MINUTES,
    as_json: Json = False,
) -> None:
    """Print a one-time console login code for USER: it works once, for a few minutes,
    and is stored only as an Argon2id hash."""
    from operators.accounts import get_user
    from operators.login_codes import issue_login_code

    with domain().transaction() as session:
        code = issue_login_code(session, get_user(session, name), admin(), minutes)
    data = {"user": name, "code": code, "minutes": minutes}
    emit(data, as_json, f"{code}  (for {name}; one login, within {minutes} minutes)")


@users_app.command("list")
@handles_errors("users.list")
def users_list(
    operator: Annotated[str | None, typer.Option(help="Only this company's users.")] = None,
    as_json: Json = False,
) -> None:
    """List users, their roles and companies."""
    from operators import list_users
    from operators.accounts import get_operator

    with domain().transaction() as session:
        company = get_operator(session, operator).id if operator else None
        data = list_users(session, company)
    columns = [("id", "id"), ("name", "user"), ("role", "role"), ("operator", "company")]
    emit_rows(data, as_json, columns, "no users")


@tokens_app.command("create")
@handles_errors("tokens.create")
def tokens_create(
    user: UserName,
    days: Annotated[int, typer.Option(help="Days until the token expires.")] = 90,
    as_json: Json = False,
) -> None:
    """Print a new bearer token for USER; it is shown once and stored only hashed."""
    from operators.accounts import create_token, get_user

    with domain().transaction() as session:
        token = create_token(session, get_user(session, user), admin(), days)
    emit({"token": token}, as_json, token)


@tokens_app.command("list")
@handles_errors("tokens.list")
def tokens_list(
    user: Annotated[str | None, typer.Option(help="Only this user's tokens.")] = None,
    as_json: Json = False,
) -> None:
    """List tokens by id, holder and term (never the token itself)."""
    from operators import list_tokens
    from operators.accounts import get_user

    with domain().transaction() as session:
        data = list_tokens(session, get_user(session, user) if user else None)
    columns = [
        ("id", "id"),
        ("user", "user"),
        ("created_at", "created (UTC)"),
        ("expires_at", "expires (UTC)"),
        ("revoked", "revoked"),
    ]
    emit_rows(data, as_json, columns, "no tokens")


@tokens_app.command("revoke")
@handles_errors("tokens.revoke")
def tokens_revoke(
    user: UserName,
    token_id: Annotated[
        int | None, typer.Option(help="Revoke only this token (see `sluice tokens list`).")
    ] = None,
    as_json: Json = False,
) -> None:
    """Revoke USER's tokens (all of them, or the one with --token-id); refused at once."""
    from operators.accounts import get_user, revoke_tokens

    with domain().transaction() as session:
        revoked = revoke_tokens(session, get_user(session, user), admin(), token_id)
    emit({"revoked": revoked}, as_json, f"revoked {len(revoked)} token(s) of {user}")
