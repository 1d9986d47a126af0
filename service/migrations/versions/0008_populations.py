"""populations: the differencing store (per released cell, its units as a bitmap of unit
numbers), the domain's numbering of units, and the prefix index over the bitmaps

Revision ID: 0008
Revises: 0007
"""

from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "population_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_population_units")),
        sa.UniqueConstraint("digest", name=op.f("uq_population_units_digest")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "cell_populations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("file", sa.String(length=255), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("released", sa.Boolean(), nullable=False),
        sa.Column("bitmap", sa.LargeBinary(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cell_populations")),
    )
    with op.batch_alter_table("cell_populations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cell_populations_job_id"), ["job_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_cell_populations_operator_id"), ["operator_id"], unique=False
        )
        batch_op.create_index(
            "ix_cell_populations_threshold_units", ["threshold", "units"], unique=False
        )
    op.create_table(
        "population_prefixes",
        sa.Column("unit", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("cell_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cell_id"],
            ["cell_populations.id"],
            name=op.f("fk_population_prefixes_cell_id_cell_populations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "unit", "units", "position", "cell_id", name=op.f("pk_population_prefixes")
        ),
    )
    with op.batch_alter_table("population_prefixes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_population_prefixes_cell_id"), ["cell_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("population_prefixes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_population_prefixes_cell_id"))
    op.drop_table("population_prefixes")
    with op.batch_alter_table("cell_populations", schema=None) as batch_op:
        batch_op.drop_index("ix_cell_populations_threshold_units")
        batch_op.drop_index(batch_op.f("ix_cell_populations_operator_id"))
        batch_op.drop_index(batch_op.f("ix_cell_populations_job_id"))
    op.drop_table("cell_populations")
    op.drop_table("population_units")
