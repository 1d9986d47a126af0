"""Imports every package's table module so `Base.metadata` knows the whole schema."""

import audit_log.records  # noqa: F401
import audit_log.verification_runs  # noqa: F401
import catalog.ingest_runs  # noqa: F401
import catalog.records  # noqa: F401
import gate.records  # noqa: F401
import jobs.leases  # noqa: F401
import jobs.ledger  # noqa: F401
import jobs.records  # noqa: F401
import operators.records  # noqa: F401
import products.fees  # noqa: F401
import products.filings  # noqa: F401
import products.interface_records  # noqa: F401
import products.records  # noqa: F401
import products.usage  # noqa: F401
