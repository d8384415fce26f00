"""Invoices, credit notes and the money movements (transactions) behind them.

A non-free order has one main invoice, written with the order: its summary
(pro forma), referenced `F-…`, which no money has moved against yet. Each
paid installment adds a child invoice and a payment transaction; each
refunded installment a credit note (negative) and a refund transaction. These
are the legal documents: each takes the next number of its issuer's sequence
for the year in the transaction that writes it, so numbers have no gap and
no duplicate. One row per (installment, kind) and per provider reference: an
activity that runs twice writes them once and takes one number.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    and_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload

from domain.errors import NotFound, error_class
from domain.invoices import (
    InvoiceKind,
    InvoiceLine,
    InvoicingFacts,
    Issuer,
    TransactionKind,
    document_number,
)
from models.base import Base, Money, TimestampMixin, new_id, upsert_insert

InvoiceNotFound = error_class(NotFound, "invoice_not_found")


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
    # The legal number of a child invoice or credit note (`ORG-2026-000001`,
    # `ORG-AV-2026-000001`); `F-…` for a main invoice and for documents
    # issued before numbering per issuer.
    reference: Mapped[str] = mapped_column(String(120), unique=True)
    # What the learner declared when ordering, frozen: a later change of
    # address must not rewrite an issued invoice.
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The seller (domain.invoices.Issuer) and the lines (InvoiceLine), frozen
    # at issue; None on documents issued before they were kept.
    issuer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    lines: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
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


class DocumentSequence(Base):
    """The last number an issuer gave a kind of document in a year."""

    __tablename__ = "document_sequences"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


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
    issuer: Issuer,
    lines: list[InvoiceLine],
    currency: str,
) -> None:
    session.add(
        Invoice(
            order_id=order_id,
            kind=InvoiceKind.INVOICE.value,
            reference=main_reference(order_id, day),
            billing_address=billing_address,
            issuer=issuer.model_dump(mode="json"),
            lines=[line.model_dump(mode="json") for line in lines],
            total=sum((line.amount for line in lines), Decimal("0")),
            currency=currency,
        )
    )


async def _main_invoice(*, session: AsyncSession, order_id: uuid.UUID) -> Invoice:
    return (
        await session.scalars(
            select(Invoice).where(Invoice.order_id == order_id, Invoice.parent_id.is_(None))
        )
    ).one()


def _sequence(organization_id: uuid.UUID, kind: InvoiceKind, year: int) -> ColumnElement[bool]:
    return and_(
        DocumentSequence.organization_id == organization_id,
        DocumentSequence.kind == kind.value,
        DocumentSequence.year == year,
    )


async def _lock_sequence(
    *, session: AsyncSession, organization_id: uuid.UUID, kind: InvoiceKind, year: int
) -> None:
    """Holds the sequence's row (made at the year's first document) until this
    transaction ends: a concurrent writer waits, then sees the number this one
    took, or gets it back if this one rolled back. SQLite has one writer at a
    time (BEGIN IMMEDIATE) and needs no row lock."""
    await session.execute(
        upsert_insert(session)(DocumentSequence)
        .values(organization_id=organization_id, kind=kind.value, year=year, last_number=0)
        .on_conflict_do_nothing()
    )
    await session.execute(
        select(DocumentSequence.last_number)
        .where(_sequence(organization_id, kind, year))
        .with_for_update()
    )


async def _take_number(
    *, session: AsyncSession, organization_id: uuid.UUID, kind: InvoiceKind, year: int
) -> int:
    return (
        await session.execute(
            update(DocumentSequence)
            .where(_sequence(organization_id, kind, year))
            .values(last_number=DocumentSequence.last_number + 1)
            .returning(DocumentSequence.last_number)
        )
    ).scalar_one()


async def _already_issued(
    *, session: AsyncSession, installment_id: uuid.UUID, kind: InvoiceKind
) -> bool:
    found = await session.scalar(
        select(Invoice.id).where(Invoice.installment_id == installment_id, Invoice.kind == kind)
    )
    return found is not None


async def record_installment_movement(
    *,
    session: AsyncSession,
    order_id: uuid.UUID,
    installment_id: uuid.UUID,
    facts: InvoicingFacts,
    line: InvoiceLine,
    kind: TransactionKind,
    reference: str,
    year: int,
) -> None:
    """A child invoice (payment) or credit note (refund) for one installment,
    with its transaction and the next number of its sequence; nothing, and no
    number taken, if this movement is already recorded."""
    document_kind = (
        InvoiceKind.CREDIT_NOTE if kind is TransactionKind.REFUND else InvoiceKind.INVOICE
    )
    where = {"organization_id": facts.organization_id, "kind": document_kind, "year": year}
    await _lock_sequence(session=session, **where)
    if await _already_issued(session=session, installment_id=installment_id, kind=document_kind):
        return  # recorded by an earlier run of the same activity
    main = await _main_invoice(session=session, order_id=order_id)
    number = await _take_number(session=session, **where)
    document = Invoice(
        order_id=order_id,
        parent_id=main.id,
        installment_id=installment_id,
        kind=document_kind.value,
        reference=document_number(
            issuer_code=facts.issuer.code, kind=document_kind, year=year, sequence=number
        ),
        billing_address=main.billing_address,
        issuer=facts.issuer.model_dump(mode="json"),
        lines=[line.model_dump(mode="json")],
        total=line.amount,
        currency=main.currency,
    )
    session.add(document)
    await session.flush()
    session.add(
        Transaction(
            invoice_id=document.id,
            kind=kind.value,
            reference=reference,
            amount=line.amount,
            currency=main.currency,
        )
    )
    await session.flush()


async def get_for_order(
    *, session: AsyncSession, order_id: uuid.UUID, invoice_id: uuid.UUID
) -> Invoice:
    found = await session.scalar(
        select(Invoice)
        .where(Invoice.id == invoice_id, Invoice.order_id == order_id)
        .options(selectinload(Invoice.transactions))
    )
    if found is None:
        raise InvoiceNotFound("This order has no such invoice.")
    return found


async def invoice_of_installment(
    *, session: AsyncSession, installment_id: uuid.UUID
) -> Invoice | None:
    """The invoice a credit note gives back money against."""
    return await session.scalar(
        select(Invoice).where(
            Invoice.installment_id == installment_id, Invoice.kind == InvoiceKind.INVOICE.value
        )
    )


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
