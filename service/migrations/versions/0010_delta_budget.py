"""delta budget: each licence has a δ budget beside its ε, charged in the same update

Revision ID: 0010
Revises: 0009
"""

from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        # licences granted before δ had a budget get the default (operators.records)
        batch_op.add_column(
            sa.Column("delta_total", sa.Float(), nullable=False, server_default=sa.text("1e-05"))
        )
        batch_op.add_column(
            sa.Column("delta_spent", sa.Float(), nullable=False, server_default=sa.text("0"))
        )
    # what their releases already spent, from the ledger's δ column (migration 0009)
    op.execute(
        "UPDATE licenses SET delta_spent = COALESCE((SELECT SUM(delta) FROM budget_charges "
        "WHERE budget_charges.license_id = licenses.id), 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        batch_op.drop_column("delta_spent")
        batch_op.drop_column("delta_total")
