"""ledger_entries: every money movement (source, order_id), not only cart lines

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 16:00:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.base import Money, UTCDateTime

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
    _card_movements_so_far()


def _card_movements_so_far() -> None:
    """The cash book as if it had always held card movements: one entry per
    installment payment or refund already recorded as a transaction."""
    transactions = sa.table(
        "transactions",
        sa.column("invoice_id", sa.Uuid()),
        sa.column("kind", sa.String()),
        sa.column("amount", Money()),
        sa.column("currency", sa.String()),
        sa.column("created_at", UTCDateTime()),
    )
    invoices = sa.table(
        "invoices",
        sa.column("id", sa.Uuid()),
        sa.column("order_id", sa.Uuid()),
        sa.column("installment_id", sa.Uuid()),
    )
    orders = sa.table(
        "orders", sa.column("id", sa.Uuid()), sa.column("owner_id"), sa.column("product_id")
    )
    products = sa.table("products", sa.column("id", sa.Uuid()), sa.column("title"))
    entries = sa.table(
        "ledger_entries",
        sa.column("id", sa.Uuid()),
        sa.column("at", UTCDateTime()),
        sa.column("source", sa.String()),
        sa.column("order_id", sa.Uuid()),
        sa.column("user_id", sa.String()),
        sa.column("method", sa.String()),
        sa.column("label", sa.String()),
        sa.column("amount", Money()),
        sa.column("net_amount", Money()),
        sa.column("currency", sa.String()),
    )
    rows = (
        op.get_bind()
        .execute(
            sa.select(
                transactions.c.kind,
                transactions.c.amount,
                transactions.c.currency,
                transactions.c.created_at,
                invoices.c.order_id,
                invoices.c.installment_id,
                orders.c.owner_id,
                products.c.title,
            )
            .join(invoices, invoices.c.id == transactions.c.invoice_id)
            .join(orders, orders.c.id == invoices.c.order_id)
            .join(products, products.c.id == orders.c.product_id)
            .where(invoices.c.installment_id.is_not(None), orders.c.owner_id.is_not(None))
        )
        .all()
    )
    values = [
        {
            "id": uuid.uuid4(),
            "at": row.created_at,
            "source": f"{row.kind}:{row.installment_id}",
            "order_id": row.order_id,
            "user_id": row.owner_id,
            "method": "card",
            "label": row.title[:300],
            "amount": row.amount,
            "net_amount": row.amount,
            "currency": row.currency,
        }
        for row in rows
    ]
    if values:
        op.bulk_insert(entries, values)


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
