"""orders.withdrawal_days: the withdrawal period an order was created with

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Orders created before the column get the period Guichet ships with (an
# operator who had changed GUICHET_WITHDRAWAL_PERIOD_DAYS may update them).
DEFAULT_DAYS = "16"


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("withdrawal_days", sa.Integer(), nullable=False, server_default=DEFAULT_DAYS)
        )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.alter_column("withdrawal_days", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("withdrawal_days")
