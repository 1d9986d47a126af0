"""Every coded error sentence the domain raises, by code: its English template.

An error raised through `SluiceError.coded(code, **figures)` carries the code and the
figures its sentence is made from, so the console can word it in the reader's language
(`message:<code>` in its catalog); the English here is what the API and the CLI show.
A code missing from `MESSAGES` cannot be raised: `coded` refuses it.

`HINTS` holds the next step for codes whose step is a sentence of its own rather
than one of `core.errors.Step`; it is made from the same figures (or fewer), and the
console words it as `hint:<code>`.
"""

from __future__ import annotations

from string import Formatter

__all__ = ["HINTS", "MESSAGES", "message_figures"]

MESSAGES: dict[str, str] = {
    # not found
    "dataset_missing": "no dataset named {name!r}; known datasets: {known}",
    "dataset_missing_none": "no dataset named {name!r}; no dataset is registered yet",
    "dataset_not_under_licences": "no dataset named {name!r} under your licences",
    "dataset_not_licensed": "no dataset {name} under your licences",
    "dataset_no_rules": "dataset {name!r} has no rules of its own; it follows the domain's",
    "ingest_run_missing": "no ingest {run_id!r} was started in this domain",
    "verification_missing": "no verification of the audit log with id {run_id!r}",
    "interface_missing": "no interface with id {interface_id}",
    "license_missing": "no license with id {license_id}",
    "product_missing": "no product with id {product_id}",
    "release_missing": "no release with id {release_id}",
    "job_missing": "no job with id {job_id}",
    "job_not_released": "job {job_id} has no release yet; it is {status}",
    "operator_missing": "no operator named {name!r}",
    "user_missing": "no user named {name!r}",
    "token_missing": "user {name!r} has no live token with id {token_id}",
    "job_no_outputs": "job {job_id} is {status}: it has no outputs to review yet",
    "job_no_notebook": "job {job_id} has no executed notebook",
    "job_no_table": "job {job_id} released {count} table(s); there is no table {index}",
    "product_no_release": "product {product_id} has no release behind it",
    # permission refusals
    "license_decision_role": "only the data authority decides on licenses; you are {role}",
    "role_needed": "this needs the role {roles}; you are {role}",
    "page_role": "this page is for {roles}; you are {role}",
    "form_stale": "the form is stale or came from elsewhere; reload the page",
    "login_elsewhere": "log in from this server's own login page",
    "password_wrong": "the name or password is wrong",
    "login_code_wrong": "the name or one-time code is wrong",
    "login_locked": "too many wrong logins for this name; it is locked for {minutes} more minutes",
    "token_unusable": "the token is unknown, revoked or expired",
    # licences that cannot be used
    "license_not_yet": "license {license_id} is in force from {valid_from}; wait until then",
    "license_not_active": "license {license_id} is {status}; ask the data authority for a new one",
    "license_expired": "license {license_id} expired on {valid_until}; apply for a renewal",
    # invalid input on the console's forms
    "level_unknown": "unknown level {level!r}; use L1, L2 or L3",
    "level_l4": "L4 core data never enters the domain; licenses go up to L3",
    "license_purpose": "a license needs a purpose; describe the scenario (应用场景)",
    "license_end_past": "the license's end date {valid_until} is not in the future",
    "epsilon_not_positive": "the privacy budget ε must be positive, got {epsilon}",
    "delta_out_of_range": "the privacy budget δ must be at least 0 and below 1, got {delta}",
    "license_no_dataset": "a license needs at least one dataset",
    "level_widened": "level {level} is above the {applied} applied for; narrow, not widen",
    "scenario_missing": "describe the application scenario (应用场景) the data will serve",
    "term_inverted": "the term starts after it ends; check valid_from and valid_until",
    "datasets_widened": "approval may narrow but not widen: {datasets} was not applied for",
    "term_later": "the term may end earlier, not later than {valid_until}",
    "epsilon_raised": "ε may be lowered, not raised above {epsilon}",
    "delta_raised": "δ may be lowered, not raised above {delta:g}",
    "refusal_reason": "a refusal needs a reason the operator can act on",
    "suspension_reason": "a suspension needs a reason",
    "revocation_reason": "a revocation needs a reason",
    "product_name": "a product needs a name",
    "price_negative": "a price cannot be negative",
    "update_cycle": "update cycle must be one of {cycles}",
    "product_term": "the product's term must end between today and the license's end "
    "({valid_until}); a product cannot outlive its license",
    "withdrawal_reason": "say why the product is withdrawn; buyers and the regulator see it",
    "sql_and_notebook": "give either a SQL query or a notebook, not both",
    "sql_empty": "the SQL file is empty; write one SELECT query",
    "sql_form": "write one SELECT query of at most 100,000 characters",
    "ingest_file_missing": "choose the data file to ingest (.csv or .parquet)",
    "ingest_schema_missing": "a new dataset needs its schema",
    "review_decision": "choose approve or deny",
    # permission refusals in review and sales
    "not_a_reviewer": "user {name!r} is a {role}, not a reviewer",
    "own_company_review": "a reviewer may not review their own company's output",
    "usage_owner": "only the company that lists a product records its usage",
    "ceiling_role": "only the data authority sets ceiling prices",
    "fee_owner": "only the company that lists a product sets its fee",
    "annual_role": "the data authority publishes the annual disclosure",
    # conflicts
    "user_exists": "user {name!r} already exists; choose another name",
    "operator_exists": "operator {name!r} already exists; choose another name",
    "dataset_registered": "dataset {name} is already registered (version {version})",
    "ingest_running": "an ingest of {name} is already running (started by {user})",
    "ingest_interrupted": "the ingest of {name} was interrupted: the server running it stopped",
    "job_transition": "job {job_id} is {status} and cannot become {to}",
    "job_gate_blocked": "job {job_id} was blocked by the output gate and cannot be approved",
    "job_not_awaiting_review": "job {job_id} is {status}, not awaiting review",
    "already_reviewed": "{reviewer} has already reviewed job {job_id}; another reviewer must",
    "nothing_releasable": "job {job_id} has nothing releasable without an exception",
    "license_wrong_state": "license {license_id} is {status}; this step needs {states}",
    "license_not_revocable": "license {license_id} is {status}, it cannot be revoked",
    "product_not_listed": "product {product_id} is {status}; list it again to sell it",
    "product_already": "product {product_id} is already {status}",
    "product_not_sellable": "product {product_id} is {status}; it cannot be sold",
}


# The next step, by code, for errors whose step is a sentence of its own.
HINTS: dict[str, str] = {
    "password_wrong": "try again",
    "login_code_wrong": "try again",
    "login_locked": "wait {minutes} minutes, then try again",
    "ingest_interrupted": "see whether the data catalog lists it; if not, ingest the file again",
}


def message_figures(code: str) -> frozenset[str]:
    """The names a code's template uses: exactly the figures every such error carries."""
    parsed = Formatter().parse(MESSAGES[code])
    return frozenset(name for _, name, _, _ in parsed if name)
