"""Response bodies of invoices, credit notes and their transactions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from api.schemas.common import OutputModel, RateOut, SignedMoneyOut
from domain.invoices import InvoiceKind, TransactionKind
from services.invoices import IssuedInvoice


class TransactionOut(OutputModel):
    id: uuid.UUID
    kind: TransactionKind
    reference: str
    amount: SignedMoneyOut
    currency: str
    created_at: datetime


class InvoiceLineOut(OutputModel):
    """Prices are tax included: excl. tax + tax = incl. tax, to the cent."""

    label: str
    tax_rate: RateOut
    amount_excl_tax: SignedMoneyOut
    tax: SignedMoneyOut
    amount_incl_tax: SignedMoneyOut


class IssuerOut(OutputModel):
    code: str
    title: str
    legal_name: str | None
    address: dict[str, str] | None
    registration_number: str | None
    vat_number: str | None


class InvoiceOut(OutputModel):
    """The main invoice has no parent: the order's summary (pro forma). A
    child invoice (one paid installment) or a credit note (one refund,
    negative) points to it and carries its issuer's legal number as
    `reference`. `pdf_url` is the document to print."""

    id: uuid.UUID
    kind: InvoiceKind
    reference: str
    parent_id: uuid.UUID | None
    installment_id: uuid.UUID | None
    billing_address: dict[str, Any] | None
    issuer: IssuerOut
    lines: list[InvoiceLineOut]
    total_excl_tax: SignedMoneyOut
    total_tax: SignedMoneyOut
    total: SignedMoneyOut
    currency: str
    created_at: datetime
    transactions: list[TransactionOut]
    pdf_url: str


def invoice_out(issued: IssuedInvoice) -> InvoiceOut:
    invoice, document = issued.invoice, issued.document
    return InvoiceOut(
        id=invoice.id,
        kind=document.kind,
        reference=invoice.reference,
        parent_id=invoice.parent_id,
        installment_id=invoice.installment_id,
        billing_address=invoice.billing_address,
        issuer=IssuerOut.model_validate(document.issuer.model_dump()),
        lines=[InvoiceLineOut.model_validate(line.model_dump()) for line in document.lines],
        total_excl_tax=document.total_excl_tax,
        total_tax=document.total_tax,
        total=invoice.total,
        currency=invoice.currency,
        created_at=invoice.created_at,
        transactions=[TransactionOut.model_validate(item) for item in invoice.transactions],
        pdf_url=f"/api/v1/orders/{invoice.order_id}/invoices/{invoice.id}.pdf",
    )
