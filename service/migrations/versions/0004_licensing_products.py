"""licensing products

The license lifecycle (applications, decisions, term start), product terms and
pricing, filings to the regulator, and usage and spending records per product.

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scenario", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("valid_from", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("requested", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("applied_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("decided_at", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("decision_note", sa.Text(), nullable=False, server_default="")
        )

    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("usage_scope", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("term_until", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("update_cycle", sa.String(length=20), nullable=False, server_default="once")
        )
        batch_op.add_column(sa.Column("pricing", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(
            sa.Column("status", sa.String(length=20), nullable=False, server_default="listed")
        )
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(), nullable=True))

    op.create_table(
        "product_filings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("pricing", sa.JSON(), nullable=False),
        sa.Column("scenario", sa.Text(), nullable=False),
        sa.Column("usage_scope", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("filed_by", sa.String(length=200), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_product_filings_operator_id_operators")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_product_filings_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_filings")),
    )
    with op.batch_alter_table("product_filings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_product_filings_product_id"), ["product_id"], unique=False
        )

    op.create_table(
        "product_usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("buyer", sa.String(length=200), nullable=False),
        sa.Column("buyer_type", sa.String(length=20), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Float(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_product_usage_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_usage")),
    )
    with op.batch_alter_table("product_usage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_usage_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_product_usage_at"), ["at"], unique=False)

    op.create_table(
        "product_spending",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_product_spending_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_spending")),
    )
    with op.batch_alter_table("product_spending", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_product_spending_product_id"), ["product_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_product_spending_at"), ["at"], unique=False)


def downgrade() -> None:
    for table in ("product_spending", "product_usage"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_at"))
            batch_op.drop_index(batch_op.f(f"ix_{table}_product_id"))
        op.drop_table(table)
    with op.batch_alter_table("product_filings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_filings_product_id"))
    op.drop_table("product_filings")
    with op.batch_alter_table("products", schema=None) as batch_op:
        for column in ("updated_at", "status", "pricing", "update_cycle", "term_until", "usage_scope"):
            batch_op.drop_column(column)
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        for column in (
            "decision_note",
            "decided_at",
            "applied_by",
            "requested",
            "valid_from",
            "scenario",
        ):
            batch_op.drop_column(column)
