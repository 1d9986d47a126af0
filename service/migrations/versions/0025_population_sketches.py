"""populations: each stored cell kept as its sketch (gate/sketches.py) and indexed by its
lowest unit digests, in place of a bitmap of unit numbers; the numbering goes

Every stored bitmap is turned back into its units' digests through the numbering,
sketched, and indexed again under its `threshold` lowest digests (at most the 64 a
sketch keeps), so cells kept before the upgrade are compared as before. The sketch
is built by the gate's own code (gate.sketches.sketch_of): the store must hold exactly
what the gate would write.

Revision ID: 0025
Revises: 0024
"""

from alembic import op
import numpy as np
import sqlalchemy as sa
from pyroaring import BitMap64

from core.population_sketch import LOWEST
from gate.sketches import sketch_of

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

BATCH = 1000  # cells converted per round trip


def _digest_of(connection: sa.engine.Connection) -> np.ndarray:
    """Each unit number's digest, by number (0 where none)."""
    rows = connection.execute(sa.text("SELECT id, digest FROM population_units")).all()
    pairs = np.array(rows, dtype=np.int64).reshape(-1, 2)
    found = np.zeros(int(pairs[:, 0].max()) + 1 if len(pairs) else 1, dtype=np.int64)
    found[pairs[:, 0]] = pairs[:, 1]
    return found


def upgrade() -> None:
    connection = op.get_bind()
    op.add_column(
        "cell_populations",
        sa.Column("sketch", sa.LargeBinary(), nullable=True),
    )
    digest_of = _digest_of(connection)
    ids = [r[0] for r in connection.execute(sa.text("SELECT id FROM cell_populations"))]
    connection.execute(sa.text("DELETE FROM population_prefixes"))
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        cells = connection.execute(
            sa.text("SELECT id, threshold, bitmap FROM cell_populations WHERE id IN :ids")
            .bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": chunk},
        ).all()  # fmt: skip
        prefixes = []
        for cell_id, threshold, bitmap in cells:
            numbers = np.array(BitMap64.deserialize(bitmap), dtype=np.int64)
            sketch = sketch_of(digest_of[numbers])
            connection.execute(
                sa.text("UPDATE cell_populations SET sketch = :sketch WHERE id = :id"),
                {"sketch": sketch.to_bytes(), "id": cell_id},
            )
            depth = min(threshold, LOWEST)
            prefixes += [
                {"unit": int(d), "units": sketch.units, "position": p, "cell_id": cell_id}
                for p, d in enumerate(sketch.lowest[:depth])
            ]
        if prefixes:
            connection.execute(
                sa.text(
                    "INSERT INTO population_prefixes (unit, units, position, cell_id)"
                    " VALUES (:unit, :units, :position, :cell_id)"
                ),
                prefixes,
            )
    # in place (SQLite 3.35+ as PostgreSQL): a batch copy of the table would drop the old
    # one, and with foreign keys on, that cascades to the index rows just written
    op.execute("ALTER TABLE cell_populations DROP COLUMN bitmap")
    if connection.dialect.name == "postgresql":  # SQLite cannot add NOT NULL in place
        op.alter_column("cell_populations", "sketch", nullable=False)
    op.drop_table("population_numbering")
    op.drop_table("population_units")


def downgrade() -> None:
    raise RuntimeError(
        "revision 0025 cannot be undone: a sketch keeps a cell's lowest 64 units, not all of "
        "them, so the bitmaps of unit numbers cannot be rebuilt; restore the database backup "
        "taken before the upgrade"
    )
