"""Accounts, tokens and licenses: validation, expiry, revocation, company boundaries."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from catalog import get_dataset
from core.errors import Conflict, InvalidInput, LicenseInvalid, NotFound, PermissionDenied
from operators.accounts import add_operator, add_user, authenticate, create_token
from operators.licenses import grant_license, revoke_license, usable_license
from operators.records import ApiToken, License
from service.domain import Domain
from tests.conftest import AUTHORITY, World

TOMORROW = date.today() + timedelta(days=1)


def _grant(world: World, **changes: object) -> License:
    options: dict[str, object] = {
        "operator": "甬城数据运营有限公司",
        "max_level": "L2",
        "purpose": "p",
        "valid_until": TOMORROW,
        "actor": AUTHORITY,
    }
    options.update(changes)
    with world.domain.transaction() as session:
        schemas = {"enterprise_utilities": get_dataset(session, "enterprise_utilities").schema()}
        return grant_license(session, schemas=schemas, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"max_level": "L4"}, InvalidInput),
        ({"max_level": "L9"}, InvalidInput),
        ({"purpose": "  "}, InvalidInput),
        ({"valid_until": date.today()}, InvalidInput),
        ({"epsilon": 0}, InvalidInput),
        ({"row_filter": "district = "}, InvalidInput),
        ({"row_filter": "no_such_column = 1"}, InvalidInput),
        ({"row_filter": "district IN (SELECT district FROM enterprise_utilities)"}, InvalidInput),
        ({"operator": "nobody"}, NotFound),
    ],
    ids=[
        "L4",
        "unknown level",
        "no purpose",
        "not future",
        "zero epsilon",
        "bad filter",
        "unknown filter column",
        "subquery filter",
        "unknown operator",
    ],
)
def test_bad_grants_are_refused_and_change_nothing(world: World, changes, error) -> None:
    with pytest.raises(error), world.domain.transaction() as session:
        before = len(session.scalars(select(License)).all())
        schemas = {"enterprise_utilities": get_dataset(session, "enterprise_utilities").schema()}
        grant_license(
            session,
            schemas=schemas,
            **{  # type: ignore[arg-type]
                "operator": "甬城数据运营有限公司",
                "max_level": "L2",
                "purpose": "p",
                "valid_until": TOMORROW,
                "actor": AUTHORITY,
                **changes,
            },
        )
    with world.domain.transaction() as session:
        assert len(session.scalars(select(License)).all()) == before


def test_revoked_and_expired_licenses_refuse_use(world: World) -> None:
    revoked, expired = _grant(world), _grant(world)
    with world.domain.transaction() as session:
        revoke_license(session, revoked.id, AUTHORITY, "misuse")
        session.get(License, expired.id).valid_until = date.today() - timedelta(days=1)
    with world.domain.transaction() as session:
        with pytest.raises(LicenseInvalid, match="revoked"):
            usable_license(session, revoked.id)
        with pytest.raises(LicenseInvalid, match="expired"):
            usable_license(session, expired.id)
        with pytest.raises(Conflict):
            revoke_license(session, revoked.id, AUTHORITY)


def test_tokens_are_stored_hashed_and_expire(domain: Domain) -> None:
    with domain.transaction() as session:
        add_operator(session, "acme", AUTHORITY)
        user = add_user(session, "u", "operator", "acme", AUTHORITY)
        token = create_token(session, user, AUTHORITY)
        stale = create_token(session, user, AUTHORITY, days=-1)
    with domain.transaction() as session:
        assert authenticate(session, token).name == "u"
        stored = [t.token_hash for t in session.scalars(select(ApiToken))]
        assert token not in stored and all(len(h) == 64 for h in stored)
        with pytest.raises(PermissionDenied):
            authenticate(session, stale)
        with pytest.raises(PermissionDenied):
            authenticate(session, token + "x")


@pytest.mark.parametrize(
    ("name", "role", "company", "error"),
    [
        ("a", "wizard", None, InvalidInput),
        ("b", "operator", None, InvalidInput),
        ("c", "reviewer", "acme", InvalidInput),
        ("d", "operator", "ghost", NotFound),
    ],
)
def test_bad_users_are_refused(domain: Domain, name, role, company, error) -> None:
    with domain.transaction() as session:
        add_operator(session, "acme", AUTHORITY)
    with pytest.raises(error), domain.transaction() as session:
        add_user(session, name, role, company, AUTHORITY)
