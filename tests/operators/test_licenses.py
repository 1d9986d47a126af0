"""Accounts, tokens and licenses: validation, expiry, revocation, company boundaries."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from catalog import get_dataset
from core.errors import Conflict, InvalidInput, LicenseInvalid, NotFound, PermissionDenied
from operators.accounts import add_operator, add_user, authenticate, create_token
from operators.licenses import grant_license, revoke_license, usable_license
from operators.records import ApiToken, License
from service.domain import Domain
from tests.conftest import AUTHORITY, World, run_cli

TOMORROW = date.today() + timedelta(days=1)
SUBQUERY_FILTER = "district IN (SELECT district FROM enterprise_utilities)"


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
        ({"delta": -1e-6}, InvalidInput),
        ({"delta": 1.0}, InvalidInput),
        ({"row_filters": {"enterprise_utilities": "district = "}}, InvalidInput),
        ({"row_filters": {"enterprise_utilities": "no_such_column = 1"}}, InvalidInput),
        ({"row_filters": {"enterprise_utilities": SUBQUERY_FILTER}}, InvalidInput),
        ({"row_filters": {"social_insurance": "insured_staff > 0"}}, InvalidInput),
        ({"row_filters": {"enterprise_utilities": "  "}}, InvalidInput),
        ({"operator": "nobody"}, NotFound),
    ],
    ids=[
        "L4",
        "unknown level",
        "no purpose",
        "not future",
        "zero epsilon",
        "negative delta",
        "delta of one",
        "bad filter",
        "unknown filter column",
        "subquery filter",
        "filter for an unlicensed dataset",
        "empty filter",
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


def test_a_filter_naming_a_column_the_dataset_lacks_says_which(world: World) -> None:
    """`insured_staff` is a column of social_insurance, not of enterprise_utilities."""
    with pytest.raises(InvalidInput) as refused:
        _grant(world, row_filters={"enterprise_utilities": "insured_staff > 10"})
    error = refused.value
    assert "insured_staff" in error.message and "enterprise_utilities" in error.message
    assert "district" in (error.suggestion or "")  # it lists the columns that can be used
    assert "--" not in str(error) and "sluice" not in str(error)  # no CLI words in the domain


def test_granted_filters_are_kept_per_dataset_as_checked(world: World) -> None:
    record = _grant(world, row_filters={"enterprise_utilities": "District='镇海区'"})
    assert record.to_dict()["row_filters"] == {"enterprise_utilities": "district = '镇海区'"}
    assert _grant(world).to_dict()["row_filters"] == {}


@pytest.mark.slow  # the CLI runs in its own process
def test_row_filters_from_the_command_line(world: World) -> None:
    home = world.domain.home.root
    grant = [
        "licenses",
        "grant",
        "--operator",
        "甬城数据运营有限公司",
        "--dataset",
        "enterprise_utilities",
        "--dataset",
        "social_insurance",
        "--max-level",
        "L3",
        "--purpose",
        "district statistics",
        "--until",
        TOMORROW.isoformat(),
    ]
    filters = ["--row-filter", "enterprise_utilities:district = '镇海区'"]
    filters += ["--row-filter", "social_insurance: insured_staff >= 20"]
    granted = run_cli(*grant, *filters, "--json", home=home, check=True)
    license_id = json.loads(granted.stdout)["id"]
    shown = run_cli("licenses", "show", str(license_id), "--json", home=home, check=True)
    assert json.loads(shown.stdout)["row_filters"] == {
        "enterprise_utilities": "district = '镇海区'",
        "social_insurance": "insured_staff >= 20",
    }
    listed = run_cli("licenses", "list", home=home, check=True).stdout
    assert "enterprise_utilities: district = '镇海区'" in listed
    wrong = run_cli(*grant, "--row-filter", "social_insurance:district = '镇海区'", home=home)
    assert wrong.returncode == 2
    assert "district" in wrong.stderr and "social_insurance" in wrong.stderr
    unnamed = run_cli(*grant, "--row-filter", "district = '镇海区'", home=home)
    assert unnamed.returncode == 2 and "which dataset" in unnamed.stderr
