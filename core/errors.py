"""Domain errors: each carries the facts a person needs to act on it.

                                                                          HTTP  exit
    SluiceError                                                           400     1
     ├── InvalidInput        malformed request, file or argument         422     2
     │    ├── SchemaInvalid  a dataset schema or a file not matching it  422     2
     │    └── QueryTooComplex  over the size, depth or time budget of    422     2
     │                         the policy analysis
     ├── NotFound            unknown dataset, license, job, user, ...    404     3
     ├── Conflict            exists already, or in the wrong state       409     4
     ├── PermissionDenied    the actor's role or company does not allow  403     5
     ├── LicenseInvalid      expired, revoked, or not covering this      403     6
     ├── PolicyDenied        the policy engine refused a query           403     7
     ├── BudgetExhausted     the privacy budget would go negative        402     8
     └── LimitExceeded       a sandbox limit was hit                     400     9
          └── RateLimited    too many calls on an interface key          429     9

Each class carries its own HTTP status and CLI exit code, so a new error cannot be
forgotten by one front end; the API and the CLI each read them in one place.

A message states the rule that was broken; what to do about it is a separate
`suggestion` in the domain's words ("list your jobs") and, where a front end can say it
better, a `Step` naming it. The CLI phrases a step as a command, the API as a route or
a field, so no domain message names a command or a flag.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Self

from core.messages import HINTS, MESSAGES, message_figures


@dataclass(frozen=True)
class Reason:
    """Why a query or output was refused, with what to do about it.

    `figures` are the facts the message is made from (a column, an ε), so a front end
    can word the reason in its own language from `rule` and them.
    """

    rule: str
    message: str
    column: str | None = None
    level: str | None = None
    suggestion: str | None = None
    figures: dict[str, Any] | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def __str__(self) -> str:
        text = self.message
        if self.suggestion:
            text += f" — {self.suggestion}"
        return text


class Step(StrEnum):
    """The next steps an error can point to, by name; each front end words them itself."""

    INIT_DOMAIN = "init_domain"
    ADD_OPERATOR = "add_operator"
    ADD_USER = "add_user"
    NAME_COMPANY = "name_company"
    DROP_COMPANY = "drop_company"
    CREATE_TOKEN = "create_token"
    LIST_LICENSES = "list_licenses"
    LICENSE_END_DATE = "license_end_date"
    LICENSE_BUDGET = "license_budget"
    LICENSE_DATASETS = "license_datasets"
    ROW_FILTER_DATASETS = "row_filter_datasets"
    ROW_FILTER_FORM = "row_filter_form"
    LIST_JOBS = "list_jobs"
    SHOW_JOB = "show_job"
    SUBMIT_FOR_SPARK = "submit_for_spark"
    GIVE_REASON = "give_reason"
    DENY_PLAINLY = "deny_plainly"
    APPROVE_AS_EXCEPTION = "approve_as_exception"
    SHOW_FINDINGS = "show_findings"
    MAKE_KEY_PAIR = "make_key_pair"
    GIVE_PRIVATE_KEY = "give_private_key"
    LIST_PRODUCTS = "list_products"
    NAME_A_RULE = "name_a_rule"
    ALLOW_WEAKER = "allow_weaker"
    VERIFY_LOG = "verify_log"
    SIGN_HEAD = "sign_head"
    EXPORT_PUBLIC_KEY = "export_public_key"
    INGEST_NEW_VERSION = "ingest_new_version"
    DEMO_FRESH = "demo_fresh"


@dataclass
class SluiceError(Exception):
    """Base of every error the domain raises on purpose.

    `message` says what was wrong; `suggestion` what to do, in words every front end
    may show; `step` names that same step so a front end can say it its own way.
    `message_code` and `figures`, set by `coded`, name the sentence's template in
    `core.messages` and the facts it was made from.
    """

    message: str
    reasons: list[Reason] = field(default_factory=list)
    suggestion: str | None = None
    step: Step | None = None
    message_code: str | None = None
    figures: dict[str, Any] | None = field(default=None, compare=False)

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 400
    exit_code: ClassVar[int] = 1

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @classmethod
    def coded(
        cls,
        message_code: str,
        *,
        suggestion: str | None = None,
        step: Step | None = None,
        **figures: Any,
    ) -> Self:
        """An error whose sentence is the registered template of `message_code` over
        `figures`, so a front end can word it in its own language from the two; its
        next step is the code's registered hint when it has one."""
        wanted = message_figures(message_code)
        if set(figures) != wanted:
            raise ValueError(f"{message_code} takes the figures {sorted(wanted)}")
        text = MESSAGES[message_code].format(**figures)
        if message_code in HINTS:
            if suggestion is not None:
                raise ValueError(f"{message_code} has a registered hint; pass no suggestion")
            suggestion = HINTS[message_code].format(**figures)
        return cls(
            text, suggestion=suggestion, step=step, message_code=message_code, figures=figures
        )

    def __str__(self) -> str:
        return f"{self.message}; {self.suggestion}" if self.suggestion else self.message

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.suggestion:
            body["suggestion"] = self.suggestion
        if self.reasons:
            body["reasons"] = [r.to_dict() for r in self.reasons]
        if self.message_code:
            body["code"], body["figures"] = self.message_code, self.figures
        return body


class InvalidInput(SluiceError):
    code = "invalid_input"
    http_status = 422
    exit_code = 2


class SchemaInvalid(InvalidInput):
    code = "schema_invalid"


class QueryTooComplex(InvalidInput):
    """A query over the policy engine's size, nesting or time budget: refused before
    any analysis result exists, so it is a request error, not a policy denial."""

    code = "query_too_complex"


class NotFound(SluiceError):
    code = "not_found"
    http_status = 404
    exit_code = 3


class Conflict(SluiceError):
    code = "conflict"
    http_status = 409
    exit_code = 4


class PermissionDenied(SluiceError):
    code = "permission_denied"
    http_status = 403
    exit_code = 5


class LicenseInvalid(SluiceError):
    code = "license_invalid"
    http_status = 403
    exit_code = 6


class PolicyDenied(SluiceError):
    code = "policy_denied"
    http_status = 403
    exit_code = 7


class BudgetExhausted(SluiceError):
    code = "budget_exhausted"
    http_status = 402
    exit_code = 8


class LimitExceeded(SluiceError):
    code = "limit_exceeded"
    http_status = 400
    exit_code = 9


class RateLimited(LimitExceeded):
    code = "rate_limited"
    http_status = 429
