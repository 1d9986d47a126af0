"""Operating companies (授权运营单位), their users and tokens, and their licenses."""

from operators.accounts import (
    HOST_ADMIN,
    ROLES,
    Principal,
    add_operator,
    add_user,
    authenticate,
    create_token,
    get_operator,
    get_user,
)
from operators.licenses import (
    get_license,
    grant_license,
    list_licenses,
    revoke_license,
    usable_license,
)
from operators.records import ApiToken, License, Operator, User

__all__ = [
    "ApiToken",
    "HOST_ADMIN",
    "License",
    "Operator",
    "Principal",
    "ROLES",
    "User",
    "add_operator",
    "add_user",
    "authenticate",
    "create_token",
    "get_license",
    "get_operator",
    "get_user",
    "grant_license",
    "list_licenses",
    "revoke_license",
    "usable_license",
]
