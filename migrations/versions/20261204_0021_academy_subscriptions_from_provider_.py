"""Academy subscriptions kept from the provider's events (status, period,
cancellation, the last event applied), the guard of their mails, and the
checkout intent's payment page URL

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 18:29:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscription_emails",
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["academy_subscriptions.id"],
            name=op.f("fk_subscription_emails_subscription_id_academy_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", "kind", name=op.f("pk_subscription_emails")),
    )
    with op.batch_alter_table("academy_subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True)
        )
        batch_op.add_column(
            sa.Column("status", sa.String(length=40), server_default="active", nullable=False)
        )
        batch_op.add_column(
            sa.Column("current_period_end", UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("cancel_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("canceled_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_event_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_academy_subscriptions_stripe_subscription_id"),
            ["stripe_subscription_id"],
        )

    with op.batch_alter_table("checkout_intents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checkout_url", sa.String(length=2000), nullable=True))
    # A subscription withdrawn before statuses were kept was canceled.
    op.execute(sa.text("UPDATE academy_subscriptions SET status = 'canceled' WHERE NOT is_active"))


def downgrade() -> None:
    with op.batch_alter_table("checkout_intents", schema=None) as batch_op:
        batch_op.drop_column("checkout_url")

    with op.batch_alter_table("academy_subscriptions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_academy_subscriptions_stripe_subscription_id"), type_="unique"
        )
        batch_op.drop_column("last_event_at")
        batch_op.drop_column("canceled_at")
        batch_op.drop_column("cancel_at")
        batch_op.drop_column("current_period_end")
        batch_op.drop_column("status")
        batch_op.drop_column("stripe_subscription_id")

    op.drop_table("subscription_emails")
