"""The few things every domain package shares.

The error tree, typed job failures, the ORM base that every package's tables hang
from, and the domain home (its folders and keys). Nothing here knows about the web
or the CLI.
"""

from typing import TYPE_CHECKING

from core.lazy import lazy_exports

if TYPE_CHECKING:
    from core.db import Base, utcnow
    from core.errors import (
        BudgetExhausted,
        Conflict,
        InvalidInput,
        LicenseInvalid,
        LimitExceeded,
        NotFound,
        PermissionDenied,
        PolicyDenied,
        QueryTooComplex,
        RateLimited,
        Reason,
        SchemaInvalid,
        SluiceError,
        Step,
    )
    from core.failures import FailureKind, JobFailure
    from core.home import Home

__getattr__ = lazy_exports(__name__, __file__)

__all__ = [
    "Base",
    "BudgetExhausted",
    "Conflict",
    "FailureKind",
    "Home",
    "InvalidInput",
    "JobFailure",
    "LicenseInvalid",
    "LimitExceeded",
    "NotFound",
    "PermissionDenied",
    "PolicyDenied",
    "QueryTooComplex",
    "RateLimited",
    "Reason",
    "SchemaInvalid",
    "SluiceError",
    "Step",
    "utcnow",
]
