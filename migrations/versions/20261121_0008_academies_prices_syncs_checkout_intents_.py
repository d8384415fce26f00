"""academies prices syncs checkout intents subscriptions

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 14:13:30.406804
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "academies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("external_uuid", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("long_name", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("marketing_url", sa.String(length=500), nullable=False),
        sa.Column("thumbnail_url", sa.String(length=500), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("stripe_product_id", sa.String(length=255), nullable=False),
        sa.Column("stripe_price_lookup_key", sa.String(length=255), nullable=True),
        sa.Column("catalog_query_id", sa.Integer(), nullable=True),
        sa.Column("product_key", sa.String(length=255), nullable=False),
        sa.Column("slug", sa.String(length=255), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("display_order", sa.Integer(), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_academies")),
        sa.UniqueConstraint("external_uuid", name=op.f("uq_academies_external_uuid")),
        sa.UniqueConstraint("name", name=op.f("uq_academies_name")),
        sa.UniqueConstraint("product_key", name=op.f("uq_academies_product_key")),
        sa.UniqueConstraint("slug", name=op.f("uq_academies_slug")),
        sa.UniqueConstraint(
            "stripe_price_lookup_key", name=op.f("uq_academies_stripe_price_lookup_key")
        ),
    )
    with op.batch_alter_table("academies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_academies_stripe_product_id"), ["stripe_product_id"], unique=False
        )

    op.create_table(
        "academy_prices",
        sa.Column("lookup_key", sa.String(length=255), nullable=False),
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("product", sa.String(length=255), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("unit_amount", sa.Integer(), nullable=True),
        sa.Column("unit_amount_decimal", sa.String(length=40), nullable=True),
        sa.Column("recurring", sa.JSON(), nullable=True),
        sa.Column("fetched_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("lookup_key", name=op.f("pk_academy_prices")),
    )
    op.create_table(
        "academy_syncs",
        sa.Column("workflow_id", sa.String(length=255), nullable=False),
        sa.Column("finished_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", name=op.f("pk_academy_syncs")),
    )
    op.create_table(
        "checkout_intents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("academy_id", sa.Uuid(), nullable=False),
        sa.Column("stripe_product_id", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("expires_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stripe_checkout_session_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
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
            ["academy_id"],
            ["academies.id"],
            name=op.f("fk_checkout_intents_academy_id_academies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_checkout_intents_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_intents")),
    )
    with op.batch_alter_table("checkout_intents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkout_intents_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            "uq_checkout_intents_in_flight",
            ["user_id", "stripe_product_id"],
            unique=True,
            sqlite_where=sa.text("state IN ('created', 'paid')"),
            postgresql_where=sa.text("state IN ('created', 'paid')"),
        )

    op.create_table(
        "academy_subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("academy_id", sa.Uuid(), nullable=False),
        sa.Column("checkout_intent_id", sa.Uuid(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
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
            ["academy_id"],
            ["academies.id"],
            name=op.f("fk_academy_subscriptions_academy_id_academies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["checkout_intent_id"],
            ["checkout_intents.id"],
            name=op.f("fk_academy_subscriptions_checkout_intent_id_checkout_intents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_academy_subscriptions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_academy_subscriptions")),
        sa.UniqueConstraint(
            "user_id", "academy_id", name=op.f("uq_academy_subscriptions_user_id_academy_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("academy_subscriptions")
    with op.batch_alter_table("checkout_intents", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_checkout_intents_in_flight",
            sqlite_where=sa.text("state IN ('created', 'paid')"),
            postgresql_where=sa.text("state IN ('created', 'paid')"),
        )
        batch_op.drop_index(batch_op.f("ix_checkout_intents_user_id"))

    op.drop_table("checkout_intents")
    op.drop_table("academy_syncs")
    op.drop_table("academy_prices")
    with op.batch_alter_table("academies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_academies_stripe_product_id"))

    op.drop_table("academies")
