"""token use: per-token hourly counters, logged as one `token.used` entry per hour

Revision ID: 0011
Revises: 0009
"""

from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "token_use",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.DateTime(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("first_used", sa.DateTime(), nullable=False),
        sa.Column("last_used", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["token_id"], ["api_tokens.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_id", "period_start"),
    )
    op.create_index("ix_token_use_period_start", "token_use", ["period_start"])


def downgrade() -> None:
    op.drop_index("ix_token_use_period_start", table_name="token_use")
    op.drop_table("token_use")
