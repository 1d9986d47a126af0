"""populations: the unit numbering also packed in segments (sorted digests and their
numbers as blobs), so a job with millions of units reads a few blobs, not a row each

Revision ID: 0024
Revises: 0023
"""

from alembic import op
import numpy as np
import sqlalchemy as sa

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

SEGMENT = 4_000_000  # units per segment, as gate/populations.py writes them


def upgrade() -> None:
    segments = op.create_table(
        "population_numbering",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("digests", sa.LargeBinary(), nullable=False),
        sa.Column("numbers", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_population_numbering")),
        sqlite_autoincrement=True,
    )
    # the units numbered before: one pass over the table, sorted by digest
    rows = op.get_bind().execute(sa.text("SELECT digest, id FROM population_units")).all()
    if not rows:
        return
    pairs = np.array(rows, dtype=np.int64)
    pairs = pairs[np.argsort(pairs[:, 0], kind="stable")]
    for start in range(0, len(pairs), SEGMENT):
        part = pairs[start : start + SEGMENT]
        op.bulk_insert(
            segments,
            [
                {
                    "units": len(part),
                    "digests": part[:, 0].astype("<i8").tobytes(),
                    "numbers": part[:, 1].astype("<i8").tobytes(),
                }
            ],
        )


def downgrade() -> None:
    op.drop_table("population_numbering")
