"""sent emails

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 12:51:59.489020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sent_emails",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("installment_key", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("sent_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_sent_emails_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", "installment_key", "kind", name=op.f("pk_sent_emails")),
    )


def downgrade() -> None:
    op.drop_table("sent_emails")
