"""Invoices and credit notes: the kinds of documents and money movements, their
lines with tax, and their legal numbers."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from pydantic import BaseModel

from domain.catalog import CENT


class InvoiceKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class TransactionKind(StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"


class LineKind(StrEnum):
    """What an invoice line is for: the label is worded from it in the order's
    language when the document is shown, the amounts are frozen at issue."""

    PRODUCT = "product"
    DISCOUNT = "discount"
    INSTALLMENT = "installment"
    REFUND = "refund"


class InvoiceLine(BaseModel):
    """One line, its amount tax included (our prices are) and signed: a
    discount or a refund is negative."""

    kind: LineKind
    title: str
    amount: Decimal
    tax_rate: Decimal = Decimal("0")
    # An installment's place in its schedule: "2 / 4".
    position: int | None = None
    count: int | None = None

    @property
    def amount_excl_tax(self) -> Decimal:
        return split_tax(amount=self.amount, tax_rate=self.tax_rate)[0]

    @property
    def tax(self) -> Decimal:
        return split_tax(amount=self.amount, tax_rate=self.tax_rate)[1]


class Issuer(BaseModel):
    """The organization that sells, as printed on its documents, frozen at
    issue: a later change of address never rewrites an issued invoice."""

    code: str
    title: str
    legal_name: str | None = None
    address: dict[str, str] | None = None
    registration_number: str | None = None
    vat_number: str | None = None


class InvoicingFacts(BaseModel):
    """What an order's documents print about who sells what."""

    organization_id: uuid.UUID
    issuer: Issuer
    product_title: str
    tax_rate: Decimal
    installment_count: int


def split_tax(*, amount: Decimal, tax_rate: Decimal) -> tuple[Decimal, Decimal]:
    """(excl. tax, tax) of a tax-included amount; the cent lost to rounding
    goes to the tax, so the two always add up to the amount."""
    excluded = (amount / (1 + tax_rate)).quantize(CENT, rounding=ROUND_HALF_UP)
    return excluded, amount - excluded


def document_number(*, issuer_code: str, kind: InvoiceKind, year: int, sequence: int) -> str:
    """`<ORG CODE>-<YYYY>-<NNNNNN>`, credit notes `<ORG CODE>-AV-<YYYY>-<NNNNNN>`
    ("avoir"): per issuer and year, gapless, so an auditor sees none missing."""
    middle = "-AV" if kind is InvoiceKind.CREDIT_NOTE else ""
    return f"{issuer_code}{middle}-{year:04d}-{sequence:06d}"


def order_lines(
    *, title: str, price: Decimal, discount: Decimal, tax_rate: Decimal
) -> list[InvoiceLine]:
    """The lines of an order's summary: its product, less its voucher."""
    lines = [InvoiceLine(kind=LineKind.PRODUCT, title=title, amount=price, tax_rate=tax_rate)]
    if discount:
        lines.append(
            InvoiceLine(kind=LineKind.DISCOUNT, title=title, amount=-discount, tax_rate=tax_rate)
        )
    return lines


def installment_line(
    *, facts: InvoicingFacts, kind: TransactionKind, position: int, amount: Decimal
) -> InvoiceLine:
    """The one line of an installment's invoice or, negative, of its refund."""
    is_refund = kind is TransactionKind.REFUND
    return InvoiceLine(
        kind=LineKind.REFUND if is_refund else LineKind.INSTALLMENT,
        title=facts.product_title,
        amount=-amount if is_refund else amount,
        tax_rate=facts.tax_rate,
        position=position + 1,
        count=facts.installment_count,
    )


# A refund without its place in a schedule (a credit note issued before lines
# were kept).
UNPLACED_REFUND = "unplaced_refund"
# How each kind of line reads, in each language of our mails.
LINE_LABELS: dict[str, dict[str, str]] = {
    "fr": {
        LineKind.PRODUCT: "{title}",
        LineKind.DISCOUNT: "Remise - {title}",
        LineKind.INSTALLMENT: "{title} - échéance {position}/{count}",
        LineKind.REFUND: "Remboursement - {title}, échéance {position}/{count}",
        UNPLACED_REFUND: "Remboursement - {title}",
    },
    "en": {
        LineKind.PRODUCT: "{title}",
        LineKind.DISCOUNT: "Discount - {title}",
        LineKind.INSTALLMENT: "{title} - installment {position}/{count}",
        LineKind.REFUND: "Refund - {title}, installment {position}/{count}",
        UNPLACED_REFUND: "Refund - {title}",
    },
}


def line_label(line: InvoiceLine, *, language: str) -> str:
    labels = LINE_LABELS.get(language, LINE_LABELS["en"])
    key: str = line.kind
    if line.position is None and line.kind is LineKind.INSTALLMENT:
        key = LineKind.PRODUCT
    elif line.position is None and line.kind is LineKind.REFUND:
        key = UNPLACED_REFUND
    return labels[key].format(title=line.title, position=line.position, count=line.count)


class DocumentLine(BaseModel):
    label: str
    tax_rate: Decimal
    amount_excl_tax: Decimal
    tax: Decimal
    amount_incl_tax: Decimal


class InvoiceDocument(BaseModel):
    """An invoice, credit note or order summary as it is shown and printed:
    what was frozen at issue, worded in the order's language."""

    id: uuid.UUID
    order_id: uuid.UUID
    kind: InvoiceKind
    # The order's main invoice: a summary (pro forma) of what is sold, not a
    # document money moved against.
    summary: bool
    reference: str
    issued_on: date
    language: str
    issuer: Issuer
    bill_to: dict[str, str] | None
    lines: list[DocumentLine]
    currency: str
    # A credit note's invoice: the one it gives money back against.
    credits_reference: str | None = None
    # Money moved against the document: (provider reference, day, amount).
    payments: list[tuple[str, date, Decimal]] = []

    @property
    def total_excl_tax(self) -> Decimal:
        return sum((line.amount_excl_tax for line in self.lines), Decimal("0"))

    @property
    def total_tax(self) -> Decimal:
        return sum((line.tax for line in self.lines), Decimal("0"))

    @property
    def total(self) -> Decimal:
        return sum((line.amount_incl_tax for line in self.lines), Decimal("0"))


def document_lines(lines: list[InvoiceLine], *, language: str) -> list[DocumentLine]:
    return [
        DocumentLine(
            label=line_label(line, language=language),
            tax_rate=line.tax_rate,
            amount_excl_tax=line.amount_excl_tax,
            tax=line.tax,
            amount_incl_tax=line.amount,
        )
        for line in lines
    ]
