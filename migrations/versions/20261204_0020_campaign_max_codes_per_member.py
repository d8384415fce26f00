"""promo_campaigns.max_codes_per_member: how many of a campaign's codes one
member may activate (null: no limit)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 17:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("promo_campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_codes_per_member", sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            "max_codes_per_member_positive",
            "max_codes_per_member IS NULL OR max_codes_per_member > 0",
        )


def downgrade() -> None:
    with op.batch_alter_table("promo_campaigns", schema=None) as batch_op:
        batch_op.drop_constraint("max_codes_per_member_positive", type_="check")
        batch_op.drop_column("max_codes_per_member")
