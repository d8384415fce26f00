"""The cash book."""

from __future__ import annotations

import uuid
from datetime import datetime

from api.schemas.common import MoneyOut, OutputModel


class LedgerEntryOut(OutputModel):
    id: uuid.UUID
    at: datetime
    cart_id: int
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
