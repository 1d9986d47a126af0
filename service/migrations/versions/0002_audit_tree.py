"""audit tree

Revision ID: 0002
Revises: 0001

The Merkle tree over audit entries: each entry keeps its leaf and completed subtree
hashes, index columns for the regulator's filters, signed tree heads, and the log's
settings (hash suite fixed at init). Entries from before this revision get their
tree hashes and index terms on the next append (audit_log.state.rebuild_tree).
"""

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("operator_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("license_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("tree_nodes", sa.LargeBinary(), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_entries_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entries_subject"), ["subject"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_entries_operator_id"), ["operator_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_audit_entries_license_id"), ["license_id"], unique=False
        )

    op.create_table(
        "audit_entry_datasets",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("dataset", sa.String(length=63), nullable=False),
        sa.PrimaryKeyConstraint("seq", "dataset", name=op.f("pk_audit_entry_datasets")),
    )
    with op.batch_alter_table("audit_entry_datasets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_entry_datasets_dataset"), ["dataset"], unique=False
        )

    op.create_table(
        "audit_tree_heads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("hash_suite", sa.String(length=20), nullable=False),
        sa.Column("signature_algorithm", sa.String(length=20), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("timestamp", sa.String(length=40), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_tree_heads")),
        sa.UniqueConstraint("size", name=op.f("uq_audit_tree_heads_size")),
    )

    op.create_table(
        "audit_log_config",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hash_suite", sa.String(length=20), nullable=False),
        sa.Column("checkpoint_every", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log_config")),
    )


def downgrade() -> None:
    op.drop_table("audit_log_config")
    op.drop_table("audit_tree_heads")
    with op.batch_alter_table("audit_entry_datasets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entry_datasets_dataset"))
    op.drop_table("audit_entry_datasets")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entries_license_id"))
        batch_op.drop_index(batch_op.f("ix_audit_entries_operator_id"))
        batch_op.drop_index(batch_op.f("ix_audit_entries_subject"))
        batch_op.drop_index(batch_op.f("ix_audit_entries_at"))
        batch_op.drop_column("tree_nodes")
        batch_op.drop_column("license_id")
        batch_op.drop_column("operator_id")
