"""Promo campaigns after launch: valid_until optional (a campaign may never
expire), is_active (an operator disables and enables it), and the end date
its creator was told of (campaign_expiring)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("promo_campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(sa.Column("expiry_notice_for", UTCDateTime(), nullable=True))
        batch_op.alter_column("valid_until", existing_type=UTCDateTime(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("promo_campaigns", schema=None) as batch_op:
        # A campaign without an end gets one far ahead: the column is required again.
        batch_op.execute(
            sa.text(
                "UPDATE promo_campaigns SET valid_until = '9999-12-31 00:00:00' "
                "WHERE valid_until IS NULL"
            )
        )
        batch_op.alter_column("valid_until", existing_type=UTCDateTime(), nullable=False)
        batch_op.drop_column("expiry_notice_for")
        batch_op.drop_column("is_active")
