"""The append-only audit log regulators read and verify: a hash chain and a Merkle tree.

Every state change calls `append` inside the same database transaction as the
change itself, so a change without its entry (or the reverse) cannot be committed.
Signed tree heads, inclusion and consistency proofs, and exports let a regulator
verify the log offline with only the domain's public key.
"""

from typing import TYPE_CHECKING

# eager: the function shares its submodule's name, which importing the submodule
# would otherwise bind on the package in its place
from audit_log.canonical import canonical
from core.lazy import lazy_exports

if TYPE_CHECKING:
    from audit_log.actions import ROUTINE_ACTIONS, AuditAction, alert_action
    from audit_log.alerts import RULES, Alert, Event, History
    from audit_log.chain import Actor, append, head, record_failed_verification
    from audit_log.export import export_entries, verify_export
    from audit_log.group import GroupAppender
    from audit_log.heads import (
        HeadTicker,
        checkpoint,
        head_at,
        latest_head,
        list_heads,
        sign_if_able,
        sign_stale_tail,
    )
    from audit_log.merkle import HashSuite, get_suite
    from audit_log.proofs import ProofCheck, check_proof, consistency_document, inclusion_document
    from audit_log.query import EntryFilter, list_alerts, list_entries
    from audit_log.ranges import verify_store
    from audit_log.records import AuditEntry, TreeHead
    from audit_log.signing import (
        Ed25519Signer,
        Signer,
        Sm2Signer,
        Sm2Verifier,
        Verifier,
        load_verifier,
        make_signer,
        with_signer,
    )
    from audit_log.state import configure_log
    from audit_log.verify import Verification, verify_entries
    from audit_log.witness import PushResult, parse_heads, push_heads, read_witness_dir

__getattr__ = lazy_exports(__name__, __file__)


def entry_hash(fields: dict[str, object], hash_suite: str = "sha256") -> str:
    """The hash of an entry's fields (all but `entry_hash`) under a hash suite."""
    from audit_log.merkle import get_suite
    from audit_log.state import entry_digests

    return entry_digests(get_suite(hash_suite), dict(fields))[0]


__all__ = [
    "Actor",
    "Alert",
    "AuditAction",
    "AuditEntry",
    "Ed25519Signer",
    "EntryFilter",
    "Event",
    "GroupAppender",
    "HashSuite",
    "HeadTicker",
    "History",
    "ProofCheck",
    "PushResult",
    "ROUTINE_ACTIONS",
    "RULES",
    "Signer",
    "Sm2Signer",
    "Sm2Verifier",
    "TreeHead",
    "Verification",
    "Verifier",
    "alert_action",
    "append",
    "canonical",
    "check_proof",
    "checkpoint",
    "configure_log",
    "consistency_document",
    "entry_hash",
    "export_entries",
    "get_suite",
    "head",
    "head_at",
    "inclusion_document",
    "latest_head",
    "list_alerts",
    "list_entries",
    "list_heads",
    "load_verifier",
    "make_signer",
    "parse_heads",
    "push_heads",
    "read_witness_dir",
    "record_failed_verification",
    "sign_if_able",
    "sign_stale_tail",
    "verify_entries",
    "verify_export",
    "verify_store",
    "with_signer",
]
