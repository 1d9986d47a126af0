"""workers: job leases for `sluice worker`, and per-license or per-dataset engine defaults

Revision ID: 0006
Revises: 0005
"""

from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_leases",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_job_leases_job_id_jobs")),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_leases")),
    )
    with op.batch_alter_table("job_leases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_leases_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "engine_defaults",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("license_id", sa.Integer(), nullable=True),
        sa.Column("dataset", sa.String(length=63), nullable=True),
        sa.Column("engine", sa.String(length=20), nullable=False),
        sa.Column("set_by", sa.String(length=200), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["license_id"], ["licenses.id"], name=op.f("fk_engine_defaults_license_id_licenses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engine_defaults")),
        sa.UniqueConstraint("license_id", name=op.f("uq_engine_defaults_license_id")),
        sa.UniqueConstraint("dataset", name=op.f("uq_engine_defaults_dataset")),
    )


def downgrade() -> None:
    op.drop_table("engine_defaults")
    with op.batch_alter_table("job_leases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_leases_expires_at"))
    op.drop_table("job_leases")
