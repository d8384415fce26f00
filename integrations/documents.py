"""Contracts and invoices as PDF documents, rendered in pure Python (fpdf2)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from domain.emails import format_date, format_money
from domain.invoices import InvoiceDocument, InvoiceKind

FIXED_DATE = datetime(2000, 1, 1, tzinfo=UTC)
# Each block starts on a new line at the left margin.
NEXT_LINE = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}


def _printable(text: str) -> str:
    # The core PDF fonts cover Latin-1 (French included); other characters
    # (dashes, quotes) are replaced rather than failing the render.
    replacements = {
        "\u2014": "-",  # em dash
        "\u2013": "-",  # en dash
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
    }
    for source, target in replacements.items():
        text = text.replace(source, target)
    return text.encode("latin-1", "replace").decode("latin-1")


def render_contract(*, title: str, body: str, context: dict[str, Any]) -> bytes:
    """The contract as a PDF. The same inputs give the same bytes (no dates in
    the metadata), so its checksum identifies what was signed."""
    pdf = FPDF()
    pdf.set_creation_date(FIXED_DATE)
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=16)
    pdf.multi_cell(0, 10, _printable(title), **NEXT_LINE)
    pdf.set_font("Helvetica", size=11)
    pdf.ln(4)
    if body:
        pdf.multi_cell(0, 6, _printable(body), **NEXT_LINE)
        pdf.ln(4)
    for key, value in sorted(context.items()):
        pdf.multi_cell(0, 6, _printable(f"{key}: {value}"), **NEXT_LINE)
    return bytes(pdf.output())


# What an invoice's headings say, in each language of our mails.
INVOICE_WORDS = {
    "fr": {
        "invoice": "Facture",
        "credit_note": "Avoir",
        "summary": "Récapitulatif de commande (pro forma)",
        "number": "N°",
        "date": "Date",
        "order": "Commande",
        "credits": "Avoir sur la facture",
        "bill_to": "Facturé à",
        "registration_number": "SIRET",
        "vat_number": "N° TVA",
        "label": "Désignation",
        "tax_rate": "TVA %",
        "excl_tax": "HT",
        "tax": "TVA",
        "incl_tax": "TTC",
        "total_excl_tax": "Total HT",
        "total_tax": "Total TVA",
        "total": "Total TTC",
        "paid": "Payé par carte le {day} : {amount} (réf. {reference})",
        "refunded": "Remboursé sur la carte le {day} : {amount} (réf. {reference})",
        "summary_note": "Ce récapitulatif n'est pas une facture : chaque échéance payée "
        "a la sienne.",
    },
    "en": {
        "invoice": "Invoice",
        "credit_note": "Credit note",
        "summary": "Order summary (pro forma)",
        "number": "No.",
        "date": "Date",
        "order": "Order",
        "credits": "Credit note for invoice",
        "bill_to": "Bill to",
        "registration_number": "Registration no.",
        "vat_number": "VAT no.",
        "label": "Description",
        "tax_rate": "Tax %",
        "excl_tax": "Excl. tax",
        "tax": "Tax",
        "incl_tax": "Incl. tax",
        "total_excl_tax": "Total excl. tax",
        "total_tax": "Total tax",
        "total": "Total incl. tax",
        "paid": "Paid by card on {day}: {amount} (ref. {reference})",
        "refunded": "Refunded to the card on {day}: {amount} (ref. {reference})",
        "summary_note": "This summary is not an invoice: each installment paid has its own.",
    },
}
# Widths of the lines' columns (mm): label, rate, excl. tax, tax, incl. tax.
COLUMNS = (80, 20, 30, 30, 30)


def _invoice_text(text: str) -> str:
    # Invoices use the core fonts' Windows-1252 (it has €); French money
    # groups thousands with a narrow no-break space it lacks.
    text = text.replace("\u202f", "\u00a0")
    return text.encode("windows-1252", "replace").decode("windows-1252")


def _title_of(document: InvoiceDocument, words: dict[str, str]) -> str:
    if document.summary:
        return words["summary"]
    return words["credit_note" if document.kind is InvoiceKind.CREDIT_NOTE else "invoice"]


def _issuer_lines(document: InvoiceDocument, words: dict[str, str]) -> list[str]:
    issuer = document.issuer
    lines = [issuer.legal_name or issuer.title]
    if issuer.address:
        place = issuer.address
        lines += [place.get("address", ""), f"{place.get('postcode', '')} {place.get('city', '')}"]
        lines.append(place.get("country", ""))
    if issuer.registration_number:
        lines.append(f"{words['registration_number']} {issuer.registration_number}")
    if issuer.vat_number:
        lines.append(f"{words['vat_number']} {issuer.vat_number}")
    return [line for line in lines if line.strip()]


def _bill_to_lines(document: InvoiceDocument) -> list[str]:
    to = document.bill_to or {}
    lines = [
        f"{to.get('first_name', '')} {to.get('last_name', '')}",
        to.get("address", ""),
        f"{to.get('postcode', '')} {to.get('city', '')}",
        to.get("country", ""),
    ]
    return [line for line in lines if line.strip()]


def _rate(rate: Any) -> str:
    return f"{rate * 100:.2f}".rstrip("0").rstrip(".")


def _header(pdf: FPDF, document: InvoiceDocument, words: dict[str, str]) -> None:
    pdf.set_font("Helvetica", style="B", size=16)
    pdf.multi_cell(0, 10, _invoice_text(_title_of(document, words)), **NEXT_LINE)
    pdf.set_font("Helvetica", size=10)
    facts = [
        f"{words['number']} {document.reference}",
        f"{words['date']} {format_date(document.issued_on, document.language)}",
        f"{words['order']} {document.order_id}",
    ]
    if document.credits_reference:
        facts.append(f"{words['credits']} {document.credits_reference}")
    for fact in facts:
        pdf.cell(0, 5, _invoice_text(fact), **NEXT_LINE)
    pdf.ln(4)


def _parties(pdf: FPDF, document: InvoiceDocument, words: dict[str, str]) -> None:
    top = pdf.get_y()
    for line in _issuer_lines(document, words):
        pdf.cell(90, 5, _invoice_text(line), **NEXT_LINE)
    bottom = pdf.get_y()
    pdf.set_xy(110, top)
    pdf.set_font("Helvetica", style="B", size=10)
    pdf.cell(0, 5, _invoice_text(words["bill_to"]), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=10)
    for line in _bill_to_lines(document):
        pdf.cell(0, 5, _invoice_text(line), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_xy(pdf.l_margin, max(bottom, pdf.get_y()) + 6)


def _row(pdf: FPDF, cells: list[str], *, bold: bool = False) -> None:
    """One table row; a long label wraps and the row grows with it."""
    pdf.set_font("Helvetica", style="B" if bold else "", size=10)
    label, *amounts = [_invoice_text(text) for text in cells]
    wrapped = pdf.multi_cell(COLUMNS[0], 6, label, dry_run=True, output="LINES")
    height = 6 * len(wrapped) + 1
    top, left = pdf.get_y(), pdf.get_x()
    pdf.rect(left, top, COLUMNS[0], height)
    pdf.multi_cell(COLUMNS[0], 6, label, new_x=XPos.RIGHT, new_y=YPos.TOP, padding=(0.5, 0))
    pdf.set_xy(left + COLUMNS[0], top)
    for width, text in zip(COLUMNS[1:], amounts, strict=True):
        pdf.cell(width, height, text, border=1, align=Align.R)
    pdf.set_xy(left, top + height)


def _lines_and_totals(pdf: FPDF, document: InvoiceDocument, words: dict[str, str]) -> None:
    def money(amount: Any) -> str:
        return format_money(amount, document.currency, document.language)

    keys = ("label", "tax_rate", "excl_tax", "tax", "incl_tax")
    _row(pdf, [words[key] for key in keys], bold=True)
    for line in document.lines:
        _row(
            pdf,
            [
                line.label,
                _rate(line.tax_rate),
                money(line.amount_excl_tax),
                money(line.tax),
                money(line.amount_incl_tax),
            ],
        )
    pdf.ln(3)
    for key, amount in (
        ("total_excl_tax", document.total_excl_tax),
        ("total_tax", document.total_tax),
        ("total", document.total),
    ):
        pdf.set_font("Helvetica", style="B" if key == "total" else "", size=10)
        pdf.cell(160, 6, _invoice_text(words[key]), align=Align.R)
        pdf.cell(30, 6, _invoice_text(money(amount)), align=Align.R, **NEXT_LINE)


def _footer(pdf: FPDF, document: InvoiceDocument, words: dict[str, str]) -> None:
    pdf.ln(4)
    pdf.set_font("Helvetica", size=9)
    said = "refunded" if document.kind is InvoiceKind.CREDIT_NOTE else "paid"
    for reference, day, amount in document.payments:
        text = words[said].format(
            day=format_date(day, document.language),
            amount=format_money(abs(amount), document.currency, document.language),
            reference=reference,
        )
        pdf.multi_cell(0, 5, _invoice_text(text), **NEXT_LINE)
    if document.summary:
        pdf.multi_cell(0, 5, _invoice_text(words["summary_note"]), **NEXT_LINE)


def render_invoice(*, document: InvoiceDocument) -> bytes:
    """An invoice, credit note or order summary as a PDF; the same document
    gives the same bytes (fixed metadata date)."""
    words = INVOICE_WORDS.get(document.language, INVOICE_WORDS["en"])
    pdf = FPDF()
    pdf.core_fonts_encoding = "windows-1252"
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(_invoice_text(f"{_title_of(document, words)} {document.reference}"))
    pdf.add_page()
    _header(pdf, document, words)
    _parties(pdf, document, words)
    _lines_and_totals(pdf, document, words)
    _footer(pdf, document, words)
    return bytes(pdf.output())


def checksum(document: bytes) -> str:
    return hashlib.sha256(document).hexdigest()
