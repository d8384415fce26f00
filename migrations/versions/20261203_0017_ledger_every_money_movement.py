"""ledger_entries: every money movement (source, order_id), not only cart lines

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("order_id", sa.Uuid(), nullable=True))
    # The entries so far are promo-code lines: their source is their line.
    op.execute("UPDATE ledger_entries SET source = 'cart_line:' || cart_line_id")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.alter_column("source", existing_type=sa.String(length=80), nullable=False)
        batch_op.alter_column("cart_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("cart_line_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_unique_constraint(batch_op.f("uq_ledger_entries_source"), ["source"])
        batch_op.create_index(batch_op.f("ix_ledger_entries_order_id"), ["order_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_ledger_entries_order_id_orders"),
            "orders",
            ["order_id"],
            ["id"],
            ondelete="RESTRICT",
        )


def downgrade() -> None:
    # Card entries have no cart line: they go with the columns that hold them.
    op.execute("DELETE FROM ledger_entries WHERE cart_line_id IS NULL")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_ledger_entries_order_id_orders"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_ledger_entries_order_id"))
        batch_op.drop_constraint(batch_op.f("uq_ledger_entries_source"), type_="unique")
        batch_op.alter_column("cart_line_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("cart_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("order_id")
        batch_op.drop_column("source")
