"""installments: the action_required state, and the card a charge was made with

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("pending", "paid", "refused", "error", "canceled", "refunded")
AFTER = ("pending", "paid", "refused", "action_required", "error", "canceled", "refunded")


def _states(states: tuple[str, ...]) -> str:
    return "state IN (" + ", ".join(f"'{state}'" for state in states) + ")"


def upgrade() -> None:
    with op.batch_alter_table("installments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("charge_payment_method", sa.String(length=255)))
        batch_op.drop_constraint(op.f("ck_installments_state"), type_="check")
        batch_op.create_check_constraint(op.f("ck_installments_state"), _states(AFTER))


def downgrade() -> None:
    # An installment waiting for the learner goes back to what it was before
    # the state existed: refused.
    op.execute("UPDATE installments SET state = 'refused' WHERE state = 'action_required'")
    with op.batch_alter_table("installments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_installments_state"), type_="check")
        batch_op.create_check_constraint(op.f("ck_installments_state"), _states(BEFORE))
        batch_op.drop_column("charge_payment_method")
