"""background runs: console ingests and full audit verifications, kept in the database
so every server process (and a restarted one) shows the same progress and result

Revision ID: 0022
Revises: 0021
"""

from alembic import op
import sqlalchemy as sa

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def _run_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("started_by", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("beat_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "ingest_runs",
        *_run_columns(),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("new_version", sa.Boolean(), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.String(60), nullable=True),
        sa.Column("error_figures", sa.JSON(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("suggestion", sa.Text(), nullable=True),
        sa.Column("schema_text", sa.Text(), nullable=False),
    )
    op.create_index("ix_ingest_runs_dataset", "ingest_runs", ["dataset"])
    op.create_table(
        "audit_verifications",
        *_run_columns(),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("audit_verifications")
    op.drop_index("ix_ingest_runs_dataset", table_name="ingest_runs")
    op.drop_table("ingest_runs")
