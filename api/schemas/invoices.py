"""Response bodies of invoices, credit notes and their transactions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from api.schemas.common import OutputModel, SignedMoneyOut
from domain.invoices import InvoiceKind, TransactionKind


class TransactionOut(OutputModel):
    id: uuid.UUID
    kind: TransactionKind
    reference: str
    amount: SignedMoneyOut
    currency: str
    created_at: datetime


class InvoiceOut(OutputModel):
    """The main invoice has no parent; a child invoice (one paid installment)
    or a credit note (one refund, negative) points to it."""

    id: uuid.UUID
    kind: InvoiceKind
    reference: str
    parent_id: uuid.UUID | None
    installment_id: uuid.UUID | None
    billing_address: dict[str, Any] | None
    total: SignedMoneyOut
    currency: str
    created_at: datetime
    transactions: list[TransactionOut]
