"""ledger delta: each ε charge also records the release's δ (DP partition selection)

Revision ID: 0009
Revises: 0008
"""

from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("budget_charges", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("delta", sa.Float(), nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("budget_charges", schema=None) as batch_op:
        batch_op.drop_column("delta")
