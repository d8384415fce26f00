"""An order's invoices, credit notes and their transactions, as data and as
PDF documents."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from domain.invoices import (
    InvoiceDocument,
    InvoiceKind,
    InvoiceLine,
    Issuer,
    LineKind,
    document_lines,
)
from domain.payment_schedule import paris_day
from integrations import documents
from models import invoices, orders
from models.invoices import Invoice
from models.orders import Order


@dataclass(frozen=True)
class IssuedInvoice:
    """A document row and how it reads."""

    invoice: Invoice
    document: InvoiceDocument


@dataclass(frozen=True)
class InvoicePdf:
    filename: str
    content: bytes


def _lines_of(invoice: Invoice, order: Order) -> list[InvoiceLine]:
    if invoice.lines is not None:
        return [InvoiceLine.model_validate(line) for line in invoice.lines]
    # Issued before lines were kept: its total, as one line without tax.
    kind = LineKind.REFUND if invoice.kind == InvoiceKind.CREDIT_NOTE else LineKind.PRODUCT
    return [InvoiceLine(kind=kind, title=order.offering.product.title, amount=invoice.total)]


def _issuer_of(invoice: Invoice, order: Order) -> Issuer:
    if invoice.issuer is not None:
        return Issuer.model_validate(invoice.issuer)
    # Issued before the issuer was frozen: the organization as it is now.
    assert order.organization is not None, "an order with invoices has its organization"
    return order.organization.as_issuer()


async def _credits_reference(session: AsyncSession, invoice: Invoice) -> str | None:
    if invoice.kind != InvoiceKind.CREDIT_NOTE or invoice.installment_id is None:
        return None
    credited = await invoices.invoice_of_installment(
        session=session, installment_id=invoice.installment_id
    )
    return credited.reference if credited else None


async def _document(session: AsyncSession, order: Order, invoice: Invoice) -> InvoiceDocument:
    return InvoiceDocument(
        id=invoice.id,
        order_id=order.id,
        kind=InvoiceKind(invoice.kind),
        summary=invoice.parent_id is None,
        reference=invoice.reference,
        issued_on=paris_day(invoice.created_at),
        language=order.language,
        issuer=_issuer_of(invoice, order),
        bill_to=invoice.billing_address,
        lines=document_lines(_lines_of(invoice, order), language=order.language),
        currency=invoice.currency,
        credits_reference=await _credits_reference(session, invoice),
        payments=[
            (item.reference, paris_day(item.created_at), item.amount)
            for item in invoice.transactions
        ],
    )


async def of_order(
    *, session: AsyncSession, order_id: uuid.UUID, owner_id: str | None
) -> list[IssuedInvoice]:
    """The order's documents, main invoice first; `owner_id` None for an admin."""
    order = await orders.get_order(session=session, id=order_id, owner_id=owner_id, view=True)
    found = await invoices.list_for_order(session=session, order_id=order_id)
    return [IssuedInvoice(item, await _document(session, order, item)) for item in found]


async def pdf(
    *, session: AsyncSession, order_id: uuid.UUID, invoice_id: uuid.UUID, owner_id: str | None
) -> InvoicePdf:
    """One document as a PDF: the same bytes each time for the same data."""
    order = await orders.get_order(session=session, id=order_id, owner_id=owner_id, view=True)
    invoice = await invoices.get_for_order(
        session=session, order_id=order_id, invoice_id=invoice_id
    )
    document = await _document(session, order, invoice)
    return InvoicePdf(
        filename=f"{invoice.reference}.pdf", content=documents.render_invoice(document=document)
    )
