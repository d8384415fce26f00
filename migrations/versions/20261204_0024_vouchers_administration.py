"""vouchers administration: validity dates, a cap on uses, who made it, and
whether it was made for a prepaid seat (those stay their order's)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("vouchers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("valid_from", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("valid_until", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("max_uses", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("for_prepaid_seat", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("created_by", sa.String(length=255), nullable=True))
        batch_op.create_check_constraint("max_uses", "max_uses IS NULL OR max_uses > 0")
        batch_op.create_check_constraint(
            "dates_in_order",
            "valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until",
        )
    # Every voucher made so far with a prepaid seat is that seat's.
    op.execute(
        "UPDATE vouchers SET for_prepaid_seat = true WHERE id IN "
        "(SELECT voucher_id FROM orders WHERE is_prepaid AND voucher_id IS NOT NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table("vouchers", schema=None) as batch_op:
        batch_op.drop_constraint("dates_in_order", type_="check")
        batch_op.drop_constraint("max_uses", type_="check")
        batch_op.drop_column("created_by")
        batch_op.drop_column("for_prepaid_seat")
        batch_op.drop_column("max_uses")
        batch_op.drop_column("valid_until")
        batch_op.drop_column("valid_from")
