"""one-time login codes: an Argon2id hash and an expiry per user, cleared once used

Revision ID: 0017
Revises: 0016
"""

from alembic import op
import sqlalchemy as sa

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("login_code_hash", sa.String(200), nullable=True))
        batch_op.add_column(sa.Column("login_code_expires_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("login_code_expires_at")
        batch_op.drop_column("login_code_hash")
