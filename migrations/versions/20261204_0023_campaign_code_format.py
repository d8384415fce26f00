"""promo_campaigns.code_format: the alphabet, length and check character of
a campaign's codes (null: today's Crockford format with its check)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("promo_campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("code_format", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("promo_campaigns", schema=None) as batch_op:
        batch_op.drop_column("code_format")
