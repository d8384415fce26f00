"""Invoices and credit notes: what kinds of documents and money movements exist."""

from __future__ import annotations

from enum import StrEnum


class InvoiceKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class TransactionKind(StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"
