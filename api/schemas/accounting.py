"""The cash book."""

from __future__ import annotations

import uuid
from datetime import datetime

from api.schemas.common import MoneyOut, OutputModel


class LedgerEntryOut(OutputModel):
    id: uuid.UUID
    at: datetime
    # What it records, once: cart_line:<id>, payment:<installment>, refund:<installment>.
    source: str
    cart_id: int | None
    order_id: uuid.UUID | None
    user_id: str
    user_email: str
    method: str
    label: str
    amount: MoneyOut
    net_amount: MoneyOut
    currency: str


class Total(OutputModel):
    key: str
    count: int
    amount: MoneyOut
    net_amount: MoneyOut


class CashBook(OutputModel):
    entries: list[LedgerEntryOut]
    by_method: list[Total]
    by_label: list[Total]
    amount: MoneyOut
    net_amount: MoneyOut
