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


# Plain ADD/DROP COLUMN, not batch mode: on SQLite a batch copy drops `licenses`,
# which its budget charges reference, and with foreign keys on that fails.


def upgrade() -> None:
    # licences granted before δ had a budget get the default (operators.records)
    op.add_column(
        "licenses",
        sa.Column("delta_total", sa.Float(), nullable=False, server_default=sa.text("1e-05")),
    )
    op.add_column(
        "licenses",
        sa.Column("delta_spent", sa.Float(), nullable=False, server_default=sa.text("0")),
    )
    # what their releases already spent, from the ledger's δ column (migration 0009)
    op.execute(
        "UPDATE licenses SET delta_spent = COALESCE((SELECT SUM(delta) FROM budget_charges "
        "WHERE budget_charges.license_id = licenses.id), 0)"
    )


def downgrade() -> None:
    # SQLite has DROP COLUMN since 3.35
    op.execute("ALTER TABLE licenses DROP COLUMN delta_spent")
    op.execute("ALTER TABLE licenses DROP COLUMN delta_total")
