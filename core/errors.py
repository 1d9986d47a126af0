"""Domain errors: each carries the facts a person needs to act on it.

    SluiceError
     ├── InvalidInput        malformed request, file or argument
     │    └── SchemaInvalid  a dataset schema or a file that does not match it
     ├── NotFound            unknown dataset, license, job, user, ...
     ├── Conflict            the thing exists already, or is in the wrong state
     ├── PermissionDenied    the actor's role or company does not allow this
     ├── LicenseInvalid      license expired, revoked, or not covering the request
     ├── PolicyDenied        the policy engine refused a query (carries reasons)
     ├── BudgetExhausted     the privacy budget would go negative
     └── LimitExceeded       a sandbox limit was hit

The CLI maps them to exit codes and the API to HTTP statuses, each in one place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reason:
    """Why a query or output was refused, with what to do about it."""

    rule: str
    message: str
    column: str | None = None
    level: str | None = None
    suggestion: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def __str__(self) -> str:
        text = self.message
        if self.suggestion:
            text += f" — {self.suggestion}"
        return text


@dataclass
class SluiceError(Exception):
    """Base of every error the domain raises on purpose."""

    message: str
    reasons: list[Reason] = field(default_factory=list)

    code = "error"

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.reasons:
            body["reasons"] = [r.to_dict() for r in self.reasons]
        return body


class InvalidInput(SluiceError):
    code = "invalid_input"


class SchemaInvalid(InvalidInput):
    code = "schema_invalid"


class NotFound(SluiceError):
    code = "not_found"


class Conflict(SluiceError):
    code = "conflict"


class PermissionDenied(SluiceError):
    code = "permission_denied"


class LicenseInvalid(SluiceError):
    code = "license_invalid"


class PolicyDenied(SluiceError):
    code = "policy_denied"


class BudgetExhausted(SluiceError):
    code = "budget_exhausted"


class LimitExceeded(SluiceError):
    code = "limit_exceeded"
