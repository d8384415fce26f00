"""installments.first_refused_at and decline_code: the dunning ladder's reckoning

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("installments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_refused_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("decline_code", sa.String(length=60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("installments", schema=None) as batch_op:
        batch_op.drop_column("decline_code")
        batch_op.drop_column("first_refused_at")
