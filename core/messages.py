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
    "ingest_run_missing": "no ingest {run_id!r} was started on this server",
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
    # service, its console pages and its commands (svc_, page_, cli_)
    "svc_cursor_foreign": "the cursor is not one this list gave",
    "svc_upload_kind": "{name}: ingest reads .csv (UTF-8) and .parquet files",
    "svc_upload_kind_unnamed": "the data file: ingest reads .csv (UTF-8) and .parquet files",
    "svc_ingest_failed": "the ingest failed unexpectedly (incident {incident})",
    "svc_domain_missing": "no Sluice domain at {root}",
    "svc_demo_foreign_home": "{root} holds a domain the demo did not create; set SLUICE_HOME "
    "to an empty folder for the demo",
    "svc_demo_earlier_home": "{root} holds an earlier demo's domain, kept as it is",
    "svc_package_missing": "the package of release {release_id} is missing from the domain",
    "svc_no_tree_head": "no tree head is signed yet; one is written every few entries",
    "page_disclosure_missing": "no annual disclosure for {year} has been published",
    "page_action_unknown": "unknown action {action!r}; use one of {actions}",
    "page_term_end_not_date": "the end of the term must be a date (YYYY-MM-DD), not {text!r}",
    "page_term_start_not_date": "the start of the term must be a date (YYYY-MM-DD), not {text!r}",
    "page_product_term_not_date": "the term must be a date (YYYY-MM-DD), not {text!r}",
    "page_epsilon_not_number": "the ε budget must be a number, not {text!r}",
    "page_epsilon_not_finite": "the ε budget must be a finite number",
    "page_delta_not_number": "the δ budget must be a number, not {text!r}",
    "page_delta_not_finite": "the δ budget must be a finite number",
    "page_margin_not_number": "the margin must be a number, not {text!r}",
    "page_margin_not_finite": "the margin must be a finite number",
    "page_sme_discount_not_number": "the SME discount must be a number, not {text!r}",
    "page_sme_discount_not_finite": "the SME discount must be a finite number",
    "page_public_discount_not_number": "the public-interest discount must be a number, "
    "not {text!r}",
    "page_public_discount_not_finite": "the public-interest discount must be a finite number",
    "page_amount_not_number": "the amount must be a number, not {text!r}",
    "page_amount_not_finite": "the amount must be a finite number",
    "page_cost_not_number": "{item} must be a number, not {text!r}",
    "page_cost_not_finite": "{item} must be a finite number",
    "page_release_not_whole": "the release must be a whole number, not {value!r}",
    "page_release_out_of_range": "the release is out of range",
    "page_quantity_not_whole": "the quantity must be a whole number, not {value!r}",
    "page_quantity_out_of_range": "the quantity is out of range",
    "page_license_not_whole": "the license must be a whole number, not {value!r}",
    "page_license_out_of_range": "the license is out of range",
    "page_schema_not_utf8": "{filename} is not UTF-8 text; save it as UTF-8",
    "page_schema_other_dataset": "the schema describes dataset {dataset}, not {target}",
    "cli_sql_file_missing": "SQL file {path} does not exist; check the path",
    "cli_notebook_file_missing": "notebook file {path} does not exist; check the path",
    "cli_proof_file_missing": "proof file {path} does not exist; check the path",
    "cli_heads_file_missing": "kept heads file {path} does not exist; check the path",
    "cli_data_file_missing": "data file {path} does not exist; check the path",
    "cli_pubkey_file_missing": "public key file {path} does not exist; check the path",
    "cli_export_file_missing": "export file {path} does not exist; check the path",
    "cli_witness_missing": "witness folder {path} does not exist; check the path",
    "cli_key_file_missing": "key file {path} does not exist",
    "cli_cost_form": "--cost {text!r} is not ITEM=YUAN, e.g. compute=600",
    "cli_term_until_form": "--term-until {text!r} is not YYYY-MM-DD",
    "cli_option_not_date": "{option} {text!r} is not a date; use YYYY-MM-DD",
    "cli_sql_or_notebook": "give exactly one of --sql FILE or --notebook FILE",
    "cli_definition_unreadable": "cannot read the definition {path}: {detail}",
    "cli_disclosure_key": "annual disclosures are signed with the domain's Ed25519 key",
    "cli_file_or_proof": "give --file or --proof, not both",
    "cli_proof_not_json": "{path} is not JSON; give a file from `sluice audit prove`",
    "cli_not_a_proof": "{path} is not a proof document",
    "cli_push_or_check": "give one of --push DIR|URL or --check DIR",
    "cli_no_domain_for_key": "no Sluice domain here to take the public key from; give the "
    "domain's public key with --pubkey FILE (the authority publishes it with "
    "`sluice audit pubkey`)",
    "cli_pubkey_unreadable": "cannot read public key {path}; check the path",
    "cli_pubkey_form": "{path} is not an Ed25519 or SM2 public key in PEM form",
    "cli_out_not_empty": "{path} is not empty; give a new folder",
    "cli_write_outside": "refusing to write {name!r} outside {path}",
    "cli_key_unreadable": "cannot read {path}; check the path",
    # core
    "core_sm2_key_missing": "the domain has no SM2 key at {path}",
    # operators: accounts, passwords, login codes, applications (op_)
    "op_operator_name_empty": "operator name is empty; give the company's name",
    "op_role_unknown": "unknown role {name!r}; use one of {known}",
    "op_operator_user_company": "an operator user works for a company",
    "op_domain_user_company": "a {role} works for the domain, not a company",
    "op_password_short": "a password needs at least {length} characters",
    "op_password_has_name": "a password may not contain the user's name",
    "op_login_code_minutes": "a login code lasts 1 to {most} minutes, not {minutes}",
    "op_operator_id_missing": "no operator with id {operator_id}",
    # policies: SQL the analysis cannot read (policy_)
    "policy_sql_malformed_at": "malformed SQL at line {line}, column {column}: {detail}; "
    "fix the syntax",
    "policy_sql_malformed": "malformed SQL: {detail}; fix the syntax",
    "policy_nested_too_deeply": "query too complex: it is nested too deeply for the parser",
    "policy_sql_empty": "the SQL is empty; write one SELECT query",
    "policy_columns_unresolved": "cannot resolve the query's columns: {detail}; check column names",
    # jobs: budgets, limits, engines, models and notebooks (job_)
    "job_limits_unknown": "unknown limit(s) {unknown}; choose from {known}",
    "job_epsilon_short": "license {license_id} has ε={remaining:.3f} left, "
    "this query needs ε={epsilon:.3f}",
    "job_delta_short": "license {license_id} has δ={left:.3g} left, this query needs "
    "δ={delta:.3g} (its keys are chosen by differential privacy)",
    "job_engine_unknown": "engine {engine!r} is not known; choose one of: {engines}",
    "job_license_or_dataset": "give exactly one of a license or a dataset",
    "job_model_unknown": "unknown model {model!r}; use one of {models}",
    "job_fit_sql_missing": "fit() needs the SQL that selects its rows",
    "job_features_form": "features must be a list of column names",
    "job_label_form": "label must be a column name",
    "job_fit_epsilon": "epsilon must be a number in (0, {most}]",
    "job_notebook_too_large": "the notebook is over {limit} bytes; make it smaller",
    "job_notebook_invalid": "not a valid Jupyter notebook (.ipynb, nbformat 4): {detail}",
    "job_notebook_no_code": "the notebook has no code cells; nothing would run",
    "job_spark_unparsed": "the Spark SQL does not parse: {detail}",
    "job_spark_one_query": "the Spark SQL must be exactly one query",
    "job_spark_qualified": "table {table} is qualified; use the dataset name",
    "job_spark_foreign_table": "table {table!r} is not one of this job's datasets",
    "job_spark_function": "function {function} is not allowed in a Spark job",
    "job_spark_sql_missing": "the job has no Spark SQL",
}


# The next step, by code, for errors whose step is a sentence of its own.
HINTS: dict[str, str] = {
    "password_wrong": "try again",
    "login_code_wrong": "try again",
    # service, its console pages and its commands
    "ingest_run_missing": "see the data catalog for what is registered",
    "ingest_running": "wait until it has finished, then ingest again",
    "ingest_schema_missing": "upload the schema's YAML file or paste it",
    "svc_cursor_foreign": "send the next_cursor of the previous page unchanged, or none",
    "svc_upload_kind": "choose a .csv or .parquet file",
    "svc_upload_kind_unnamed": "choose a .csv or .parquet file",
    "svc_ingest_failed": "tell the platform's operators this incident number",
    "page_schema_other_dataset": "give {target}'s schema, or ingest the file as a new dataset",
    "cli_disclosure_key": "give the domain's Ed25519 public key (keys/domain.pub), not its SM2 key",
    # operators
    "op_password_short": "use a passphrase of several words",
    "op_login_code_minutes": "keep it short; 10 minutes is the default",
    # policies
    "policy_nested_too_deeply": "simplify the query",
    # jobs
    "job_epsilon_short": "ask the data authority for more budget or reuse an earlier release",
    "job_delta_short": "group by columns with declared public categories (no δ is spent), "
    "or ask the data authority for more δ",
    "job_engine_unknown": "name one of: {engines}",
}


def message_figures(code: str) -> frozenset[str]:
    """The names a code's template uses: exactly the figures every such error carries."""
    parsed = Formatter().parse(MESSAGES[code])
    return frozenset(name for _, name, _, _ in parsed if name)
