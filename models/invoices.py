"""Invoices, credit notes and the money movements (transactions) behind them.

A non-free order has one main invoice, written with the order. Each paid
installment adds a child invoice and a payment transaction; each refunded
installment a credit note (negative) and a refund transaction. One row per
(installment, kind) and per provider reference: an activity that runs twice
writes them once.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload

from domain.invoices import InvoiceKind, TransactionKind
from models.base import Base, Money, TimestampMixin, new_id, upsert_insert


class Invoice(TimestampMixin, Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("installment_id", "kind"),
        CheckConstraint("kind IN ('invoice', 'credit_note')", name="kind"),
        # A credit note gives money back, and always against a main invoice.
        CheckConstraint(
            "(kind = 'invoice' AND total >= 0) OR "
            "(kind = 'credit_note' AND total < 0 AND parent_id IS NOT NULL)",
            name="total_sign",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    # None for the main invoice; children and credit notes hang under it.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    installment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("installments.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    # What the learner declared when ordering, frozen: a later change of
    # address must not rewrite an issued invoice.
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    total: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))

    transactions: Mapped[list[Transaction]] = relationship(
        lazy="raise", order_by="Transaction.created_at"
    )


class Transaction(TimestampMixin, Base):
    __tablename__ = "transactions"
    __table_args__ = (
        CheckConstraint("kind IN ('payment', 'refund')", name="kind"),
        CheckConstraint(
            "(kind = 'payment' AND amount > 0) OR (kind = 'refund' AND amount < 0)",
            name="amount_sign",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    invoice_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    # The provider's charge or refund: one transaction per movement of money.
    reference: Mapped[str] = mapped_column(String(255), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))


def main_reference(order_id: uuid.UUID, day: str) -> str:
    """`F-<yyyymmdd>-<12 hex of the order id>`: readable, and 48 random bits
    keep references unique without a counter shared by every API replica."""
    return f"F-{day}-{order_id.hex[:12].upper()}"


async def create_main_invoice(
    *,
    session: AsyncSession,
    order_id: uuid.UUID,
    day: str,
    billing_address: dict[str, Any] | None,
    total: Decimal,
    currency: str,
) -> None:
    session.add(
        Invoice(
            order_id=order_id,
            kind=InvoiceKind.INVOICE.value,
            reference=main_reference(order_id, day),
            billing_address=billing_address,
            total=total,
            currency=currency,
        )
    )


async def _main_invoice(*, session: AsyncSession, order_id: uuid.UUID) -> Invoice:
    return (
        await session.scalars(
            select(Invoice).where(Invoice.order_id == order_id, Invoice.parent_id.is_(None))
        )
    ).one()


async def record_installment_movement(
    *,
    session: AsyncSession,
    order_id: uuid.UUID,
    installment_id: uuid.UUID,
    position: int,
    kind: TransactionKind,
    reference: str,
    amount: Decimal,
) -> None:
    """A child invoice (payment) or credit note (refund) for one installment,
    with its transaction; nothing if this movement is already recorded."""
    main = await _main_invoice(session=session, order_id=order_id)
    is_refund = kind is TransactionKind.REFUND
    signed = -amount if is_refund else amount
    document_id = await session.scalar(
        upsert_insert(session)(Invoice)
        .values(
            id=new_id(),
            order_id=order_id,
            parent_id=main.id,
            installment_id=installment_id,
            kind=(InvoiceKind.CREDIT_NOTE if is_refund else InvoiceKind.INVOICE).value,
            reference=f"{main.reference}-{'C' if is_refund else 'I'}{position + 1}",
            billing_address=main.billing_address,
            total=signed,
            currency=main.currency,
        )
        .on_conflict_do_nothing()
        .returning(Invoice.id)
    )
    if document_id is None:
        return  # recorded by an earlier run of the same activity
    session.add(
        Transaction(
            invoice_id=document_id,
            kind=kind.value,
            reference=reference,
            amount=signed,
            currency=main.currency,
        )
    )
    await session.flush()


async def list_for_order(*, session: AsyncSession, order_id: uuid.UUID) -> list[Invoice]:
    """The main invoice first, then children and credit notes as issued."""
    return list(
        await session.scalars(
            select(Invoice)
            .where(Invoice.order_id == order_id)
            .options(selectinload(Invoice.transactions))
            .order_by(Invoice.parent_id.is_not(None), Invoice.created_at, Invoice.reference)
        )
    )
