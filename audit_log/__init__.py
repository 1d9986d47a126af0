"""The append-only, hash-chained audit log that regulators read and verify.

Every state change calls `append` inside the same database transaction as the
change itself, so a change without its entry (or the reverse) cannot be committed.
"""

from audit_log.chain import Actor, append, entry_hash, head
from audit_log.export import export_entries, verify_export
from audit_log.records import AuditEntry
from audit_log.verify import Verification, verify_entries, verify_store

__all__ = [
    "Actor",
    "AuditEntry",
    "Verification",
    "append",
    "entry_hash",
    "export_entries",
    "head",
    "verify_entries",
    "verify_export",
    "verify_store",
]
