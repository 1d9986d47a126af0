"""job engine reason: which rule chose a SQL job's engine (operator, licence, dataset, system)

Revision ID: 0020
Revises: 0016
"""

from alembic import op
import sqlalchemy as sa

revision = "0020"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("engine_reason", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("engine_reason")
