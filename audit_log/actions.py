"""Every action an audit entry may name, each with a line saying what it records.

`append` refuses any other name, so a typo cannot start a new kind of entry that
the alert rules and the regulator's filters would silently miss. Names are stored
as their plain values ("job.submitted"), so entries written before the registry
read and verify as before.
"""

from __future__ import annotations

from enum import StrEnum

ALERT_PREFIX = "alert."


class AuditAction(StrEnum):
    """An action name; `description` says what an entry with it records."""

    description: str

    def __new__(cls, value: str, description: str) -> AuditAction:
        member = str.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member

    # the domain and its front ends
    DOMAIN_INITIALIZED = "domain.initialized", "the domain's folders, keys and log were created"
    REQUEST_REFUSED = "request.refused", "a request was refused; state is as it was"
    REQUEST_FAILED = "request.failed", "a request failed unexpectedly; its incident id is kept"
    DATASET_INGESTED = "dataset.ingested", "a dataset was registered and desensitized"
    TWIN_SYNTHESIZED = "catalog.twin_synthesized", "a dataset's synthetic twin was written"
    TWIN_DOWNLOADED = "catalog.twin_downloaded", "a dataset's synthetic twin was downloaded"
    DATASET_VERSIONED = (
        "dataset.versioned",
        "a registered dataset was ingested again as its next version",
    )
    DISCLOSURE_RULES_SET = "disclosure.rules_set", "a dataset's output-gate rules were changed"
    DISCLOSURE_RULES_CLEARED = "disclosure.rules_cleared", "a dataset's gate rules were reset"
    ENGINE_DEFAULT_SET = "engine.default_set", "a license's or dataset's default engine was set"

    # operators, people and tokens
    OPERATOR_ADDED = "operator.added", "an operating company (授权运营单位) was registered"
    USER_ADDED = "user.added", "a user was created with a role"
    TOKEN_CREATED = "token.created", "an API token was issued to a user"
    TOKEN_USED = "token.used", "an API token authenticated a request"
    TOKEN_REVOKED = "token.revoked", "a user's API tokens were revoked"
    PASSWORD_SET = "user.password_set", "a user's console password was set (its hash only)"
    LOGIN_CODE_ISSUED = (
        "user.login_code_issued",
        "a short-lived, single-use login code was issued to a user (its hash only)",
    )
    LOGIN_CODE_USED = "user.login_code_used", "a user logged in with a one-time code"

    # licenses (授权)
    LICENSE_GRANTED = "license.granted", "the authority granted a license on its own initiative"
    LICENSE_APPLIED = "license.applied", "an operator applied for a license"
    LICENSE_APPROVED = "license.approved", "an application was approved, possibly narrowed"
    LICENSE_REFUSED = "license.refused", "an application was refused, with a reason"
    LICENSE_SUSPENDED = "license.suspended", "an active license was suspended"
    LICENSE_REINSTATED = "license.reinstated", "a suspended license became active again"
    LICENSE_REVOKED = "license.revoked", "a license was withdrawn for good"
    LICENSE_EXPIRED = "license.expired", "a license's term passed"
    LICENSE_LIMITS_SET = "license.limits_set", "a license's sandbox limits were set"
    BUDGET_CHARGED = "budget.charged", "ε was charged to a license's budget for a query"

    # jobs: submission, then one action per state a job moves into
    JOB_SUBMITTED = "job.submitted", "an operator submitted SQL or a notebook"
    JOB_ENGINE_SELECTED = "job.engine_selected", "a SQL job was sent to Spark, with its Spark SQL"
    JOB_DENIED = "job.denied", "the policy engine denied a submitted query, with reasons"
    JOB_QUEUED = "job.queued", "a running job went back to the queue (its lease expired)"
    JOB_RUNNING = "job.running", "a job started in the sandbox"
    JOB_FAILED = "job.failed", "a job failed: a limit, a rule, an engine error or its license"
    JOB_BLOCKED = "job.blocked", "the output gate blocked a job's outputs"
    JOB_AWAITING_REVIEW = "job.awaiting_review", "a job's outputs passed the gate"
    JOB_RELEASED = "job.released", "a job's outputs were released"
    JOB_REJECTED = "job.rejected", "a reviewer denied a job's outputs"

    # review, release and products (出域审核, 数据产品)
    REVIEW_APPROVE = "review.approve", "a reviewer approved a job's outputs"
    REVIEW_DENY = "review.deny", "a reviewer denied a job's outputs, with a reason"
    RELEASE_CREATED = "release.created", "a signed release package was made"
    RELEASE_EXCEPTION = "release.exception", "custom outputs left by exception, with reasons"
    RELEASE_KEY_REGISTERED = (
        "release_key.registered",
        "an operator's release-encryption key was set",
    )
    PRODUCT_LISTED = "product.listed", "a data product was listed from a release"
    PRODUCT_REPRICED = "product.repriced", "a data product's pricing changed"
    PRODUCT_WITHDRAWN = "product.withdrawn", "a data product was withdrawn"
    PRODUCT_FILED = "product.filed", "a data product was filed with the regulator"
    PRODUCT_USED = "product.used", "a sale of a data product to a buyer was recorded"
    PRODUCT_SPENDING = "product.spending", "a cost of making a data product was recorded"
    PRODUCT_CEILING_SET = "product.ceiling_set", "the authority set a product's ceiling price"
    PRODUCT_FEE_SET = "product.fee_set", "an operator set a product's fee model and price"
    REVENUE_SETTLED = "revenue.settled", "a product's revenue for a period was settled"
    DISCLOSURE_ANNUAL_FILED = (
        "disclosure.annual_filed",
        "an annual disclosure report was signed, published and filed",
    )

    # interface products (数据分析接口) and consents (授权)
    MODEL_ATTACHED = "model.attached", "a reviewed DP model was added to an output as model.json"
    INTERFACE_CREATED = "interface.created", "an approved artefact was served as an interface"
    INTERFACE_KEY_ISSUED = "interface.key_issued", "a buyer was given a key to one interface"
    INTERFACE_CALLED = "interface.called", "an interface call was answered"
    INTERFACE_REFUSED = "interface.refused", "an interface call was refused or blocked"
    CONSENT_RECORDED = "consent.recorded", "a data subject's consent to scoring was recorded"
    CONSENT_REVOKED = "consent.revoked", "a data subject's consent was revoked"

    # alerts for regulators, raised by rules over the log or by other checks
    ALERT_REPEATED_DENIALS = "alert.repeated_denials", "an operator had many denials in an hour"
    ALERT_NEAR_IDENTICAL_QUERY = (
        "alert.near_identical_query",
        "a query differs from the operator's previous one by one filter literal",
    )
    ALERT_BUDGET_HIGH = "alert.budget_high", "a license has spent most of its ε"
    ALERT_OVER_LIMITS = "alert.over_limits", "a job failed on a sandbox limit"
    ALERT_LICENSE_TERM = "alert.license_term", "a job ran under a license near or past its term"
    ALERT_VERIFICATION_FAILED = "alert.verification_failed", "verifying the log found a fault"
    ALERT_VALUE_SCAN_HIT = "alert.value_scan_hit", "an output held a raw identifier"
    ALERT_QUASI_IDENTIFIER_HIT = (
        "alert.quasi_identifier_hit",
        "an output held a known quasi-identifier combination",
    )
    ALERT_DIFFERENCING_HIT = (
        "alert.differencing_hit",
        "an output differed from an earlier one by a few units",
    )

    @property
    def is_alert(self) -> bool:
        return self.value.startswith(ALERT_PREFIX)


#: machine-paced actions a reader skims past; the console hides them unless asked
ROUTINE_ACTIONS: frozenset[str] = frozenset(
    {AuditAction.TOKEN_USED, AuditAction.JOB_RUNNING, AuditAction.JOB_ENGINE_SELECTED}
)


def alert_action(rule: str) -> AuditAction:
    """The action an alert raised by `rule` is logged under; ValueError if none is registered."""
    return registered(ALERT_PREFIX + rule)


_BY_NAME: dict[str, AuditAction] = {action.value: action for action in AuditAction}


def registered(action: str) -> AuditAction:
    """The registered action with this name; ValueError (naming the name) if there is none."""
    found = _BY_NAME.get(action)
    if found is None:
        raise ValueError(
            f"{action!r} is not a registered audit action; add it to audit_log.actions"
        )
    return found
