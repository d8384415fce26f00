"""Member-site carts (v2): the shapes the existing e-venement client reads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api.schemas.common import MoneyOut, OutputModel
from domain.carts import CartState, Tariff


class CartItemOut(OutputModel):
    id: int
    product_id: uuid.UUID
    product_title: str
    product_type: str
    tariff: Tariff
    unit_price: MoneyOut
    list_price: MoneyOut
    currency: str
    promocode: str | None


class CartOut(OutputModel):
    id: int
    state: CartState
    items: list[CartItemOut]
    total: MoneyOut
    currency: str = "EUR"


class MembershipOut(OutputModel):
    id: uuid.UUID
    product_id: uuid.UUID
    product_title: str
    active: bool
    activated_at: datetime | None
    # The promo code it was bought with, and its campaign; null otherwise.
    promocode: str | None
    campaign: str | None


class ActivationIn(BaseModel):
    promocode: str = Field(max_length=200, examples=["YOOT-RENTREE2026-7KQ2M9XHD"])


class Answer(BaseModel):
    """Every answer of the activation route, success or not (compatible shape)."""

    code: int = Field(examples=[200])
    message: str = Field(examples=["Activation Succeeded"])
    errors: list[str] = Field(default_factory=list)


class SelectPaymentIn(BaseModel):
    method_id: Any = Field(default=None, description="ignored for a cart with nothing to pay")


class SelectPaymentOut(BaseModel):
    methods: str = Field(examples=["NothingToPay"])
    cart: CartOut
