"""orders, contracts, vouchers, inbound events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 12:10:26.364817
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_events",
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("received_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("source", "event_id", name=op.f("pk_inbound_events")),
    )
    op.create_table(
        "vouchers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("discount_rate", models.base.Rate(), nullable=True),
        sa.Column("discount_amount", models.base.Money(), nullable=True),
        sa.Column("multiple_use", sa.Boolean(), nullable=False),
        sa.Column("multiple_users", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("offering_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(discount_rate IS NULL) <> (discount_amount IS NULL)",
            name=op.f("ck_vouchers_one_discount"),
        ),
        sa.CheckConstraint("code = upper(code)", name=op.f("ck_vouchers_code_upper")),
        sa.CheckConstraint(
            "discount_amount IS NULL OR discount_amount > 0", name=op.f("ck_vouchers_amount")
        ),
        sa.CheckConstraint(
            "discount_rate IS NULL OR discount_rate > 0",
            name=op.f("ck_vouchers_rate"),
        ),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["offerings.id"],
            name=op.f("fk_vouchers_offering_id_offerings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vouchers")),
        sa.UniqueConstraint("code", name=op.f("uq_vouchers_code")),
    )
    with op.batch_alter_table("vouchers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vouchers_offering_id"), ["offering_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.String(length=255), nullable=True),
        sa.Column("offering_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("price", models.base.Money(), nullable=False),
        sa.Column("discount", models.base.Money(), nullable=False),
        sa.Column("total", models.base.Money(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("contract_required", sa.Boolean(), nullable=False),
        sa.Column("voucher_id", sa.Uuid(), nullable=True),
        sa.Column("is_prepaid", sa.Boolean(), nullable=False),
        sa.Column("billing_address", sa.JSON(), nullable=True),
        sa.Column("has_waived_withdrawal_right", sa.Boolean(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "state IN ('draft', 'assigned', 'to_own', 'to_sign_and_to_save_payment_method', 'to_sign', 'signing', 'to_save_payment_method', 'pending', 'pending_payment', 'no_payment', 'failed_payment', 'completed', 'canceled', 'refunding', 'refunded')",
            name=op.f("ck_orders_state"),
        ),
        sa.CheckConstraint(
            "total >= 0 AND discount >= 0 AND price >= 0", name=op.f("ck_orders_amounts")
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_orders_course_id_courses"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["offerings.id"],
            name=op.f("fk_orders_offering_id_offerings"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_orders_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_orders_owner_id_users"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_orders_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["voucher_id"],
            ["vouchers.id"],
            name=op.f("fk_orders_voucher_id_vouchers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint(
            "owner_id", "idempotency_key", name=op.f("uq_orders_owner_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_offering_id"), ["offering_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_orders_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_orders_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_voucher_id"), ["voucher_id"], unique=False)
        batch_op.create_index(
            "uq_orders_active_owner_offering",
            ["owner_id", "offering_id"],
            unique=True,
            postgresql_where=sa.text(
                "owner_id IS NOT NULL AND state NOT IN ('canceled', 'refunded', 'refunding')"
            ),
            sqlite_where=sa.text(
                "owner_id IS NOT NULL AND state NOT IN ('canceled', 'refunded', 'refunding')"
            ),
        )

    op.create_table(
        "contracts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("definition_title", sa.String(length=255), nullable=False),
        sa.Column("definition_body", sa.Text(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("document_checksum", sa.String(length=64), nullable=True),
        sa.Column("signature_backend", sa.String(length=20), nullable=True),
        sa.Column("signature_reference", sa.String(length=255), nullable=True),
        sa.Column(
            "submitted_for_signature_on", models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("student_signed_on", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("organization_signed_on", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("organization_signatory", sa.JSON(), nullable=True),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_contracts_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
        sa.UniqueConstraint("order_id", name=op.f("uq_contracts_order_id")),
        sa.UniqueConstraint("signature_reference", name=op.f("uq_contracts_signature_reference")),
    )
    op.create_table(
        "installments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("due_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("charge_reference", sa.String(length=255), nullable=True),
        sa.Column("amount", models.base.Money(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'paid', 'refused', 'error', 'canceled', 'refunded')",
            name=op.f("ck_installments_state"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_installments_amount_positive")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_installments_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installments")),
        sa.UniqueConstraint("order_id", "position", name=op.f("uq_installments_order_id_position")),
    )
    op.create_table(
        "order_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("from_state", sa.String(length=40), nullable=True),
        sa.Column("to_state", sa.String(length=40), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_events_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
    )
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_events_order_id"), ["order_id"], unique=False)

    op.create_table(
        "payment_methods",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=False),
        sa.Column("customer_reference", sa.String(length=255), nullable=True),
        sa.Column("brand", sa.String(length=30), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("exp_month", sa.Integer(), nullable=False),
        sa.Column("exp_year", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_payment_methods_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_payment_methods")),
    )


def downgrade() -> None:
    op.drop_table("payment_methods")
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_events_order_id"))

    op.drop_table("order_events")
    op.drop_table("installments")
    op.drop_table("contracts")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_orders_active_owner_offering",
            postgresql_where=sa.text(
                "owner_id IS NOT NULL AND state NOT IN ('canceled', 'refunded', 'refunding')"
            ),
            sqlite_where=sa.text(
                "owner_id IS NOT NULL AND state NOT IN ('canceled', 'refunded', 'refunding')"
            ),
        )
        batch_op.drop_index(batch_op.f("ix_orders_voucher_id"))
        batch_op.drop_index(batch_op.f("ix_orders_state"))
        batch_op.drop_index(batch_op.f("ix_orders_owner_id"))
        batch_op.drop_index(batch_op.f("ix_orders_organization_id"))
        batch_op.drop_index(batch_op.f("ix_orders_offering_id"))

    op.drop_table("orders")
    with op.batch_alter_table("vouchers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vouchers_offering_id"))

    op.drop_table("vouchers")
    op.drop_table("inbound_events")
