"""interface products, consents, calls; ceiling prices, revenue settlements; annual
disclosures; a product's kind

Revision ID: 0012
Revises: 0011
"""

from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(20), nullable=False, server_default="file")
        )
    op.create_table(
        "interfaces",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id"), nullable=False),
        sa.Column("operator_id", sa.Integer(), sa.ForeignKey("operators.id"), nullable=False),
        sa.Column("license_id", sa.Integer(), sa.ForeignKey("licenses.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("epsilon_per_call", sa.Float(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_interfaces_product_id", "interfaces", ["product_id"])
    op.create_table(
        "interface_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("interface_id", sa.Integer(), sa.ForeignKey("interfaces.id"), nullable=False),
        sa.Column("buyer", sa.String(200), nullable=False),
        sa.Column("buyer_type", sa.String(20), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("calls_per_minute", sa.Integer(), nullable=False),
        sa.Column("epsilon_total", sa.Float(), nullable=False),
        sa.Column("epsilon_spent", sa.Float(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("issued_by", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_interface_keys_interface_id", "interface_keys", ["interface_id"])
    op.create_table(
        "interface_consents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("interface_id", sa.Integer(), sa.ForeignKey("interfaces.id"), nullable=False),
        sa.Column("key_id", sa.Integer(), sa.ForeignKey("interface_keys.id"), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("valid_until", sa.DateTime(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("revoked_by", sa.String(200), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_interface_consents_interface_id", "interface_consents", ["interface_id"])
    op.create_index("ix_interface_consents_subject", "interface_consents", ["subject"])
    op.create_table(
        "interface_calls",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("interface_id", sa.Integer(), sa.ForeignKey("interfaces.id"), nullable=False),
        sa.Column("key_id", sa.Integer(), sa.ForeignKey("interface_keys.id"), nullable=True),
        sa.Column(
            "consent_id", sa.Integer(), sa.ForeignKey("interface_consents.id"), nullable=True
        ),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id"), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("fee_yuan", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_interface_calls_interface_id", "interface_calls", ["interface_id"])
    op.create_index("ix_interface_calls_at", "interface_calls", ["at"])
    op.create_table(
        "price_ceilings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id"), nullable=False),
        sa.Column("fee_model", sa.String(20), nullable=False),
        sa.Column("ceiling_yuan", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_price_ceilings_product_id", "price_ceilings", ["product_id"])
    op.create_table(
        "revenue_settlements",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id"), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("profit", sa.Float(), nullable=False),
        sa.Column("tax", sa.Float(), nullable=False),
        sa.Column("carried_in", sa.Float(), nullable=False),
        sa.Column("allowed_max", sa.Float(), nullable=False),
        sa.Column("revenue", sa.Float(), nullable=False),
        sa.Column("excess", sa.Float(), nullable=False),
        sa.Column("settled_by", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("product_id", "period"),
    )
    op.create_index("ix_revenue_settlements_product_id", "revenue_settlements", ["product_id"])
    op.create_table(
        "annual_disclosures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("filed_by", sa.String(200), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_annual_disclosures_year", "annual_disclosures", ["year"])


def downgrade() -> None:
    for table in (
        "annual_disclosures",
        "revenue_settlements",
        "price_ceilings",
        "interface_calls",
        "interface_consents",
        "interface_keys",
        "interfaces",
    ):
        op.drop_table(table)
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("kind")
