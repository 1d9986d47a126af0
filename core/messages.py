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
    # products: annual disclosure
    "annual_year_range": "year {year} is out of range",
    # products: fees, ceilings and settlements
    "fee_margin_range": "allowed profit margin must be 0 to {max_margin:.0%}, not {margin}",
    "fee_tax_rate_range": "a tax rate must be between 0 and 1, not {tax_rate}",
    "fee_model_unknown": "fee model must be one of {models}",
    "ceiling_range": "a ceiling must be between 0 and 1e9 yuan, not {ceiling_yuan}",
    "price_range": "a price must be between 0 and 1e9 yuan, not {price_yuan}",
    "price_no_ceiling": "product {product_id} has no ceiling price for {fee_model}",
    "price_above_ceiling": "price {price_yuan:.2f} is above the ceiling {ceiling_yuan:.2f} yuan",
    "fee_settle_role": "only the authority, the regulator or the operator settles",
    "fee_settle_owner": "only the company that lists a product settles it",
    "fee_settled_already": "product {product_id} is already settled for {period}",
    # products: usage and spending records
    "usage_buyer_missing": "name the buyer (kept for the regulator, not published)",
    "usage_quantity_range": "quantity must be between 1 and 1000000, not {quantity}",
    "usage_no_fee": "product {product_id} has a ceiling price but no fee; set a fee at or under it",
    "usage_spending_category": "unknown spending category {category!r}; use {categories}",
    "usage_amount_positive": "an amount must be positive, not {amount}",
    "usage_period_form": "period {period!r} is not YYYY, YYYY-Qn or YYYY-MM",
    # products: interfaces, their keys and their calls
    "interface_kind": "an interface is one of {kinds}",
    "interface_purpose_missing": "say what the interface is for; consents name this purpose",
    "interface_epsilon_range": "epsilon_per_call must be between 0 and 10",
    "interface_template_denied": "the policy engine refuses this template",
    "interface_feature_map": "map each model feature to dataset.column: {features}",
    "interface_feature_unlicensed": "feature {feature}: dataset {dataset!r} is not licensed",
    "interface_feature_not_stored": "feature {feature}: {target} is not a stored feature column",
    "interface_feature_level": "feature {feature}: {target} is above the licence's level",
    "interface_output": "output must be one of {outputs}",
    "interface_key_owner": "only the company serving an interface issues its keys",
    "buyer_type_choice": "buyer type must be one of {types}",
    "buyer_name_missing": "name the buyer the key is for",
    "interface_rate_range": "calls per minute must be 1 to {max_calls}",
    "interface_key_budget_missing": "a template interface's key needs an ε budget (epsilon_total)",
    "interface_key_unknown": "unknown or revoked interface key",
    "interface_key_elsewhere": "this key does not open interface {interface_id}",
    "interface_rate_limited": "this key may make {calls_per_minute} calls a minute",
    "interface_not_served": "interface {interface_id} is not being served ({status})",
    "interface_scoring_call": "a scoring call sends one identifier and a purpose",
    "interface_model_changed": "interface {interface_id}'s model is not the one approved",
    "interface_subject_missing": "no record of this data subject in the licensed data",
    "interface_template_call": "a template call sends parameters, not an identifier",
    "interface_key_budget": "this key has {left:.3g} ε left; a call costs {epsilon:.3g}",
    "interface_call_denied": "the policy engine refused this call",
    "interface_answer_withheld": "the answer was withheld by the output gate",
    # products: query templates behind interfaces
    "interface_parameter_field": "a parameter needs {field!r}",
    "interface_parameter_column": (
        "parameter {name!r} must name an L1 column with declared categories, not {source}"
    ),
    "interface_template_sql": "the template is not valid SQL: {detail}",
    "interface_template_select": "a template is one SELECT query",
    "interface_template_placeholders": (
        "the template uses {used} but declares {declared}; declare each placeholder once"
    ),
    "interface_parameter_kind": "parameter kind must be one of {kinds}",
    "interface_parameter_bounds": "int parameter {name!r} needs bounds min ≤ max",
    "interface_parameters_mismatch": "parameters unknown: {unknown}; missing: {missing}",
    "interface_parameter_value": "{name} must be one of the declared values of {dataset}.{column}",
    "interface_parameter_integer": "{name} must be a whole number",
    "interface_parameter_range": "{name} must be between {min} and {max}",
    # products: data subjects' consents to scoring
    "consent_identifier_missing": "give the data subject's identifier",
    "consent_scoring_only": "consents are for per-subject scoring interfaces",
    "consent_purpose": "the consent's purpose must be the interface's: {purpose!r}",
    "consent_end_past": "a consent must run until a time in the future",
    "consent_missing": "no consent {consent_id} for this key",
    "consent_revoked_already": "consent {consent_id} is already revoked",
    "consent_none": "scoring refused: no consent from this data subject is recorded",
    "consent_other_purpose": "scoring refused: the subject's consent is for another purpose",
    "consent_revoked": "scoring refused: the subject's consent was revoked",
    "consent_expired": "scoring refused: the subject's consent has expired",
    # products: review and release
    "product_review_decision": "decision must be approve or deny, not {decision!r}",
    "product_denial_reason": "a denial needs a reason, so the operator knows what to change",
    "product_exception_approval": "an exception is a kind of approval",
    "product_no_custom_outputs": "job {job_id} has no custom outputs to release by exception",
    "product_exception_justification": (
        "releasing custom outputs is an exception and needs a written justification"
    ),
    "product_only_custom_outputs": "job {job_id} has only custom outputs ({outputs})",
    "population_unreadable": (
        "the differencing store's population of job {job_id} ({file}, row {row}) does not "
        "read, so the job cannot be checked against released outputs; reject it and run "
        "it again"
    ),
    "product_release_differencing": (
        "job {job_id} now differences an output released since it was gated; deny it"
    ),
    "product_release_license_not_yet": (
        "job {job_id} cannot be released: license {license_id} is in force from {valid_from}; "
        "wait until then"
    ),
    "product_release_license_not_active": (
        "job {job_id} cannot be released: license {license_id} is {status}; "
        "ask the data authority for a new one"
    ),
    "product_release_license_expired": (
        "job {job_id} cannot be released: license {license_id} expired on {valid_until}; "
        "apply for a renewal"
    ),
    "product_model_late": "job {job_id} is {status}; a model joins an output awaiting review",
    "product_model_twice": "job {job_id} already carries a model",
    "product_release_no_model": "release {release_id} carries no {file}",
    "product_model_changed": "{file} of release {release_id} is not the file reviewed",
    # products: listings and delivery keys
    "listing_owner_list": "only the company that received a release may list it as a product",
    "listing_owner_reprice": "only the company that received a release may reprice it",
    "listing_owner_withdraw": "only the company that received a release may withdraw it",
    "buyer_type_unknown": "unknown buyer type {buyer_type!r}; use one of {types}",
    "buyer_type_invalid": "unknown buyer type {buyer_type!r}",
    "product_key_registrar": "only the data authority registers delivery keys, not {role}",
    "product_key_registered": "key {fingerprint}… is registered already; keys are not reused",
    # products: release packages and their encryption
    "product_package_exists": "release package {path} exists already",
    "product_package_short": "an encrypted file is too short to be one; the package is damaged",
    "product_decrypt_failed": (
        "decryption failed: this key is not the package's recipient, or the file changed"
    ),
    "product_cipher_unknown": "unknown cipher {cipher!r}",
    "product_key_type": "unknown key type {kind!r}; use x25519 or sm2",
    "product_public_key_form": "not an X25519 or SM2 public key in PEM form",
    "product_private_key_form": "not an unencrypted X25519 or SM2 private key in PEM form",
    "product_wrapped_key": "the package's wrapped key does not open: {detail}",
    "product_package_other_key": "this package is encrypted to another key (fingerprint differs)",
    "product_envelope_damaged": "the package's encryption envelope is damaged: {detail}",
    "product_package_unverified": "the package does not verify; refusing to open it",
    "product_package_changed": "{name} changed while the package was opened; try again",
    "product_package_encrypted": "this package is encrypted ({cipher})",
    # audit_log
    "audit_export_no_key": "exporting signs the log: give the domain's signing key",
    "audit_hash_unknown": "unknown hash suite {name!r}; use one of {known} (SLUICE_AUDIT_HASH)",
    "audit_checkpoint_interval": (
        "the checkpoint interval must be at least 1 entry, got {interval}"
    ),
    "audit_hash_fixed": (
        "this audit log hashes with {suite}, fixed when the domain was initialised; set "
        "SLUICE_AUDIT_HASH={suite} or start a new domain"
    ),
    "audit_tree_hashes_missing": "the stored tree hashes for entry {seq} are missing",
    "audit_entry_missing": "no audit entry {seq}; entries are numbered from 1",
    "audit_entry_unsigned": (
        "entry {seq} is not yet covered by a signed tree head (the last signed head covers "
        "{size} entries)"
    ),
    "audit_entry_unsigned_none": (
        "entry {seq} is not yet covered by a signed tree head (none is signed)"
    ),
    "audit_inclusion_unproven": (
        "the stored log does not prove entry {seq} against its signed head at size {size}"
    ),
    "audit_consistency_range": "need 0 < M <= N for a consistency proof, got M={old}, N={new}",
    "audit_consistency_unproven": (
        "the signed heads at sizes {old} and {new} are not consistent with the stored log"
    ),
    "audit_crypto_suite_unknown": (
        "unknown crypto suite {name!r}; use one of {known} (SLUICE_CRYPTO_SUITE)"
    ),
    "audit_sm2_key_missing": "the sm2 signer needs the domain's SM2 key; none was given",
    "audit_signature_unknown": "unknown signature algorithm {name!r}; use ed25519 or sm2",
    "audit_pubkey_not_pem": "the public key file is not a PEM public key",
    "audit_pubkey_kind": "the public key is neither an Ed25519 nor an SM2 key",
    "audit_heads_unreadable": "the kept heads are neither JSON nor JSON lines",
    "audit_head_not_object": "a kept head is not a JSON object",
    "audit_record_not_head": "a kept record is not a signed tree head (size, root, signature)",
    "audit_witness_inconsistent": (
        "the log is not consistent with the witness's head at size {size}; not pushed"
    ),
    "audit_witness_different": "the witness already holds a different head at {file}",
    "audit_witness_status": "the witness at {url} answered HTTP {http_status}",
    "audit_witness_refused": "the witness at {url} refused the head: HTTP {http_status}",
    "audit_witness_unreachable": "the witness at {url} cannot be reached: {detail}",
    "audit_no_signing_key": "no signing key is available to this session; run this as the domain",
    "audit_log_empty": "the audit log is empty; there is nothing to sign yet",
    "audit_head_missing": "no signed tree head at size {size}; signed sizes include {known}",
    "audit_head_missing_none": "no signed tree head at size {size}; signed sizes include none yet",
    # catalog
    "schema_column_unnamed": "column #{number} has no name; give every column a `name`",
    "schema_column_name": "column name {name!r} is not a lowercase identifier; use [a-z0-9_]",
    "schema_column_no_level": (
        "column {name!r} has no level; add `level: L1|L2|L3|L4` to every column"
    ),
    "schema_column_level": "column {name!r} has unknown level {level!r}; use L1, L2, L3 or L4",
    "schema_column_role": "column {name!r} has unknown role {role!r}; use one of {roles}",
    "schema_column_type": "column {name!r} has unknown type {type!r}; use one of {types}",
    "schema_column_method": (
        "column {name!r} has unknown desensitize method {method!r}; use keep, drop, "
        "pseudonymize, mask, generalize:year|month|prefix:N|bucket:W or noise:S"
    ),
    "schema_identifier_method": (
        "identifier column {name!r} would be stored as {method!r}; identifiers must be "
        "pseudonymize, mask or drop"
    ),
    "schema_measure_type": "measure {name!r} has type {type}; measures must be integer or double",
    "schema_measure_no_bounds": "measure {name!r} has no bounds; add `bounds: [lo, hi]`",
    "schema_measure_bounds": "measure {name!r} has bounds {bounds}; lo must be below hi",
    "schema_bounds_not_measure": "column {name!r} has bounds but is not a measure; remove them",
    "schema_null_rate": "column {name!r} has null_rate {value!r}; use a number from 0 to below 1",
    "schema_identifier_null_rate": "identifier column {name!r} declares a null_rate; remove it",
    "schema_categories_not_l1": (
        "column {name!r} declares categories but is not an L1 dimension; declare "
        "categories only for public (L1) dimension columns"
    ),
    "schema_categories_not_list": (
        "column {name!r} has categories that are not a list; list every value"
    ),
    "schema_not_mapping": (
        "the schema is not a mapping; see the dataset schema format in docs/dataset-schema.md"
    ),
    "schema_key_missing": "the schema has no `{key}`; add `{key}:` at the top level",
    "schema_dataset_name": "dataset name {name!r} is not a lowercase identifier; use [a-z0-9_]",
    "schema_no_columns": "the schema lists no columns; list every column of the file",
    "schema_columns_twice": "columns listed twice: {columns}; list each column once",
    "schema_privacy_unit": (
        "privacy_unit {unit!r} is not a stored, pseudonymized column; name the identifier "
        "column whose contributions are bounded"
    ),
    "schema_contribution_limit": (
        "contribution_limit must be at least 1; set it to the rows one unit may add"
    ),
    "schema_file_missing": "schema file {path} does not exist; check the path",
    "schema_file_yaml": "schema file {path} is not valid YAML ({detail}); fix the syntax",
    "schema_upload_yaml": "schema {name} is not valid YAML ({detail}); fix the syntax",
    "schema_yaml": "the schema is not valid YAML ({detail}); fix the syntax",
    "schema_frame_lacks_columns": (
        "the frame lacks stored columns {columns} of dataset {dataset!r}; pass a frame "
        "with every column the schema lists"
    ),
    "schema_method_unknown": "column {name!r} has unknown method {method!r}",
    "schema_method_type": (
        "column {name!r} is {type} but {method!r} needs one of {types}; change the "
        "column's type or its desensitize method"
    ),
    "schema_method_width": (
        "column {name!r} has {method!r}; the width or scale must be a positive number, "
        "e.g. generalize:bucket:100 or noise:5"
    ),
    "catalog_index_invalid": "{path} is not an identifier index; re-ingest the dataset",
    "ingest_source_missing": "source file {path} does not exist; check the path",
    "ingest_folder_left": (
        "{folder} exists but no dataset {name} is registered (left by an interrupted "
        "ingest); remove that folder and ingest again"
    ),
    "ingest_no_rows": "{file} has no data rows; nothing to ingest",
    "ingest_no_file_type": (
        "{file}: unsupported file type '(none)'; ingest a .csv (UTF-8) or .parquet file"
    ),
    "ingest_file_type": (
        "{file}: unsupported file type {suffix!r}; ingest a .csv (UTF-8) or .parquet file"
    ),
    "ingest_bad_value": (
        "column {column!r}, row {row}: {value!r} is not a valid {type}; fix the value or "
        "the column's type in the schema"
    ),
    "ingest_bad_values": (
        "column {column!r}, row {row}: {value!r} is not a valid {type}, and {more} more; "
        "fix the value or the column's type in the schema"
    ),
    "ingest_bad_value_line": (
        "column {column!r}, row {row} (line {line} of the file): {value!r} is not a valid "
        "{type}; fix the value or the column's type in the schema"
    ),
    "ingest_bad_values_line": (
        "column {column!r}, row {row} (line {line} of the file): {value!r} is not a valid "
        "{type}, and {more} more; fix the value or the column's type in the schema"
    ),
    "ingest_file_empty": "{file} is empty; nothing to ingest",
    "ingest_row_values": (
        "{file}: row {row} (line {line} of the file) has {got} values but the header "
        "names {expected} columns; give every row one value per column (leave a value "
        "empty for null)"
    ),
    "ingest_header_duplicate": (
        "{file}: the header names {names} more than once; give every column its own name"
    ),
    "ingest_not_utf8": (
        "{file} is not UTF-8 text; convert it first (for GBK: iconv -f GBK -t UTF-8 {file})"
    ),
    "ingest_unreadable": "{file} could not be read ({detail}); check the file",
    "ingest_header_mismatch": (
        "{file} does not match schema {dataset}: missing columns: {missing}; extra "
        "columns: {extra}; make the header match the schema, or list extra columns with "
        "level L4 or desensitize: drop"
    ),
    "ingest_header_missing": (
        "{file} does not match schema {dataset}: missing columns: {missing}; make the "
        "header match the schema, or list extra columns with level L4 or desensitize: drop"
    ),
    "ingest_header_extra": (
        "{file} does not match schema {dataset}: extra columns: {extra}; make the header "
        "match the schema, or list extra columns with level L4 or desensitize: drop"
    ),
    "catalog_filter_not_predicate": (
        "the row filter {text!r} for {dataset} is not a SQL predicate ({detail})"
    ),
    "catalog_filter_syntax": (
        "the row filter {text!r} for {dataset} uses syntax not allowed in a filter ({nodes})"
    ),
    "catalog_filter_subquery": (
        "the row filter {text!r} for {dataset} uses syntax not allowed in a filter (a subquery)"
    ),
    "catalog_filter_column": (
        "the row filter for {dataset} names {column}, which is not a stored column of {dataset}"
    ),
    "catalog_filter_uncovered": (
        "a row filter is given for {dataset}, which the license does not cover"
    ),
    "catalog_filter_empty": "the row filter for {dataset} is empty",
    "catalog_filter_no_dataset": "the row filter {text!r} does not say which dataset it filters",
    "catalog_filter_twice": "two row filters are given for {dataset}",
    "catalog_twin_rows": "a twin has 1 to {max_rows:,} rows, not {rows:,}",
    "catalog_filter_types": "the row filter for {dataset} does not fit the dataset's stored types",
    # gate
    "gate_table_missing": "{path} does not exist; check the path",
    "gate_table_too_large": "{file} is over the {limit} limit ({found} > {allowed})",
    "gate_table_kind": "{file} is neither .csv nor .parquet",
    "gate_table_no_companions": (
        "{file} has no __n column (privacy units per row); only tables with companion "
        "columns, as the sandbox writes them, can be checked"
    ),
    "gate_candidate_missing": "job {job_id} has no candidate output {name}",
    "gate_model_kind": "unknown model kind {kind!r}; use one of {kinds}",
    "gate_model_parameters": "a {kind} model needs parameters {missing}",
    "gate_model_no_features": "a model needs at least one feature",
    "gate_model_unbounded": "features without bounds: {features}",
    "gate_model_no_epsilon": "a DP model must have cost some ε > 0",
    "gate_model_record": "not a Sluice model record: {detail}",
    "gate_model_feature_missing": "missing feature {name!r}",
    "gate_model_no_scores": "a {kind} model gives no class scores",
    "gate_rules_role": "only the data authority sets disclosure rules; {name} is a {role}",
    "gate_no_rule_to_set": "no disclosure rule to set",
    # sandbox
    "sandbox_no_debian_source": (
        "no Debian source with 'main' in {folder}/sources.list*; configure apt first, or "
        "build from the Dockerfile on a host that can pull debian:bookworm-slim"
    ),
    "sandbox_build_debootstrap_failed": (
        "image build failed while debootstrapping Debian (exit {exit_status}):\n{tail}"
    ),
    "sandbox_build_python_failed": (
        "image build failed while asking the image's Python (exit {exit_status}):\n{tail}"
    ),
    "sandbox_build_packages_failed": (
        "image build failed while installing the runtime's Python packages (exit "
        "{exit_status}):\n{tail}"
    ),
    "sandbox_build_bytecode_failed": (
        "image build failed while compiling the packages' bytecode (exit {exit_status}):\n{tail}"
    ),
    "sandbox_build_needs_root_and_debootstrap": (
        "cannot build the runtime image: building the image needs root (debootstrap and "
        "chroot); debootstrap is not installed (Debian package debootstrap)"
    ),
    "sandbox_build_needs_root": (
        "cannot build the runtime image: building the image needs root (debootstrap and chroot)"
    ),
    "sandbox_build_needs_debootstrap": (
        "cannot build the runtime image: debootstrap is not installed (Debian package debootstrap)"
    ),
    "sandbox_build_tar_failed": "image build failed: tar of {root} exited {exit_status}",
    "sandbox_build_not_imported": "image build failed: docker did not import {tag}",
    "sandbox_limit_not_positive": "limit {name} must be a positive integer, got {value!r}",
    "sandbox_dataset_name": (
        "dataset name {name!r} cannot be mounted; use letters, digits and underscores"
    ),
    "sandbox_dataset_not_file": "dataset {name!r}: {path} is not a file",
    "sandbox_out_not_empty": "{folder} is not empty; give each job a fresh work_dir",
    "sandbox_job_file_name": "job file name {name!r} is not a plain file name",
    "sandbox_spec_unmounted": "spec names datasets that are not mounted: {names}",
    "sandbox_backend_unknown": "unknown sandbox backend {name!r}; choose one of: {choices}",
    "sandbox_backend_unusable": "sandbox backend {name!r} cannot run on this host: {detail}",
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
    # products: next steps
    "price_no_ceiling": "ask the data authority to set a ceiling price, or offer it free",
    "price_above_ceiling": "price at or under {ceiling_yuan:.2f} yuan",
    "interface_rate_limited": "wait a minute, or ask the operator for a higher rate",
    "interface_key_budget": "ask the operator for a key with a larger budget",
    "interface_answer_withheld": "ask about a wider group, or another period",
    "consent_none": "record the data subject's consent for this interface and purpose",
    "consent_other_purpose": "record the data subject's consent for this interface and purpose",
    "consent_revoked": "record the data subject's consent for this interface and purpose",
    "consent_expired": "record the data subject's consent for this interface and purpose",
    "login_locked": "wait {minutes} minutes, then try again",
    "ingest_interrupted": "see whether the data catalog lists it; if not, ingest the file again",
    # audit_log
    "audit_heads_unreadable": "give the signed heads as JSON, an export, or a witness folder",
    # catalog
    "catalog_filter_not_predicate": "write a comparison such as district = '镇海区'",
    "catalog_filter_syntax": "use plain comparisons of the dataset's columns with values",
    "catalog_filter_subquery": "use plain comparisons of the dataset's columns with values",
    "catalog_filter_empty": "give a predicate, or no filter for that dataset",
    "catalog_filter_twice": "join them into one predicate with AND",
    "catalog_filter_types": "ask the data authority to correct the license's row filter",
    # gate
    "gate_table_too_large": "check a smaller table",
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
