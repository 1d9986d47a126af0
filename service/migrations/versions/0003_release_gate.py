"""release gate: custom-output exceptions on reviews, per-dataset disclosure rules,
operators' delivery keys

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("exception", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    op.create_table(
        "dataset_disclosure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(length=63), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("allow_weaker", sa.JSON(), nullable=False),
        sa.Column("set_by", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_disclosure")),
        sa.UniqueConstraint("dataset", name=op.f("uq_dataset_disclosure_dataset")),
    )
    op.create_table(
        "operator_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("cipher", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("registered_by", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_operator_keys_operator_id_operators"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_keys")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_operator_keys_fingerprint")),
    )
    with op.batch_alter_table("operator_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_operator_keys_operator_id"), ["operator_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("operator_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_operator_keys_operator_id"))
    op.drop_table("operator_keys")
    op.drop_table("dataset_disclosure")
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_column("exception")
