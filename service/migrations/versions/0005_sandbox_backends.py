"""sandbox backends: per-license sandbox limits

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sandbox_limits",
        sa.Column("license_id", sa.Integer(), nullable=False),
        sa.Column("limits", sa.JSON(), nullable=False),
        sa.Column("set_by", sa.String(length=200), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["license_id"], ["licenses.id"], name=op.f("fk_sandbox_limits_license_id_licenses")
        ),
        sa.PrimaryKeyConstraint("license_id", name=op.f("pk_sandbox_limits")),
    )


def downgrade() -> None:
    op.drop_table("sandbox_limits")
