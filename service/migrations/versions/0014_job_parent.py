"""job parent: a notebook's broker queries are child jobs that name their notebook job

Revision ID: 0014
Revises: 0012
"""

from alembic import op
import sqlalchemy as sa

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_jobs_parent_id"), ["parent_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_jobs_parent_id_jobs"), "jobs", ["parent_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_jobs_parent_id_jobs"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_jobs_parent_id"))
        batch_op.drop_column("parent_id")
