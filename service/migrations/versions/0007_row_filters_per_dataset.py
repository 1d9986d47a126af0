"""row filters per dataset: a license's one row_filter becomes row_filters (dataset → predicate)

A single filter had to name a column of every licensed dataset; it now applies to
each licensed dataset that has the columns it names. A dataset that lacks them could
not be queried under the old filter at all (the filter failed on it), so it gets
FALSE, no rows, rather than no filter: a migration must never widen a license.

Revision ID: 0007
Revises: 0006
"""

from alembic import op
import sqlalchemy as sa
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NO_ROWS = "FALSE"

licenses = sa.table(
    "licenses",
    sa.column("id", sa.Integer()),
    sa.column("datasets", sa.JSON()),
    sa.column("row_filter", sa.Text()),
    sa.column("row_filters", sa.JSON()),
)
datasets = sa.table("datasets", sa.column("name", sa.String()), sa.column("schema_json", sa.JSON()))


def _stored_columns(schema: dict) -> set[str]:
    return {
        str(c["name"]).lower()
        for c in schema.get("columns", [])
        if c.get("level") != "L4" and c.get("desensitize", "keep") != "drop"
    }


def _named_columns(text: str) -> set[str] | None:
    try:
        tree = sqlglot.parse_one(text, dialect="duckdb")
    except (SqlglotError, ValueError, RecursionError):  # a filter that never worked: no rows
        return None
    return {c.name.lower() for c in tree.find_all(exp.Column)}


def per_dataset(text: str | None, names: list[str], stored: dict[str, set[str]]) -> dict:
    """The old single filter on every licensed dataset that has its columns, else no rows."""
    if not text or not text.strip():
        return {}
    named = _named_columns(text)
    return {
        name: text if named is not None and named <= stored.get(name, set()) else NO_ROWS
        for name in names
    }


def upgrade() -> None:
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("row_filters", sa.JSON(), nullable=True))
    bind = op.get_bind()
    stored = {
        name: _stored_columns(schema or {})
        for name, schema in bind.execute(sa.select(datasets.c.name, datasets.c.schema_json))
    }
    rows = bind.execute(sa.select(licenses.c.id, licenses.c.datasets, licenses.c.row_filter))
    for license_id, names, text in rows.fetchall():
        filters = per_dataset(text, list(names or []), stored)
        bind.execute(
            licenses.update().where(licenses.c.id == license_id).values(row_filters=filters)
        )
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        batch_op.alter_column("row_filters", existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column("row_filter")


def downgrade() -> None:
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("row_filter", sa.Text(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.select(licenses.c.id, licenses.c.row_filters))
    for license_id, filters in rows.fetchall():
        distinct = sorted(set((filters or {}).values()))
        # one filter for every scan: different filters per dataset can only go back as no rows
        text = None if not distinct else distinct[0] if len(distinct) == 1 else NO_ROWS
        bind.execute(
            licenses.update().where(licenses.c.id == license_id).values(row_filter=text)
        )
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        batch_op.drop_column("row_filters")
