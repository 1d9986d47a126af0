"""Operating companies (授权运营单位), their users and tokens, and their licenses."""

from typing import TYPE_CHECKING

from core.lazy import lazy_exports

if TYPE_CHECKING:
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
        revoke_tokens,
    )
    from operators.catalog_view import LicenceView, licensed_catalog
    from operators.directory import list_operators, list_tokens, list_users
    from operators.licenses import (
        get_license,
        grant_license,
        license_not_found,
        license_stop_reason,
        licensed_dataset,
        list_licenses,
        revoke_license,
        usable_license,
    )
    from operators.lifecycle import (
        apply_for_license,
        approve_license,
        expire_licenses,
        refuse_license,
        reinstate_license,
        suspend_license,
    )
    from operators.records import ApiToken, License, LicenseStatus, Operator, TokenUse, User
    from operators.token_use import close_token_use

__getattr__ = lazy_exports(__name__, __file__)

__all__ = [
    "ApiToken",
    "HOST_ADMIN",
    "LicenceView",
    "License",
    "LicenseStatus",
    "Operator",
    "Principal",
    "ROLES",
    "TokenUse",
    "User",
    "add_operator",
    "add_user",
    "apply_for_license",
    "approve_license",
    "authenticate",
    "close_token_use",
    "create_token",
    "expire_licenses",
    "get_license",
    "get_operator",
    "get_user",
    "grant_license",
    "license_not_found",
    "license_stop_reason",
    "licensed_catalog",
    "licensed_dataset",
    "list_licenses",
    "list_operators",
    "list_tokens",
    "list_users",
    "refuse_license",
    "reinstate_license",
    "revoke_license",
    "revoke_tokens",
    "suspend_license",
    "usable_license",
]
