"""Vouchers and discounts: what a code takes off, and who may still use it."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.catalog import CENT
from domain.codes import CODE_ALPHABET
from domain.errors import BadRequest, error_class
from domain.orders import OrderState, is_active

InvalidVoucher = error_class(BadRequest, "invalid_voucher")
UnusableVoucher = error_class(BadRequest, "unusable_voucher")
VoucherNotValidForOffering = error_class(BadRequest, "voucher_not_valid_for_offering")

FULL_RATE = Decimal("1")


class Discount(BaseModel):
    """Exactly one of a rate (0 < rate <= 1) or an amount (> 0)."""

    model_config = ConfigDict(frozen=True)

    rate: Decimal | None = Field(default=None, gt=0, le=1, decimal_places=4)
    amount: Decimal | None = Field(default=None, gt=0, decimal_places=2)

    @model_validator(mode="after")
    def _exactly_one(self) -> Discount:
        if (self.rate is None) == (self.amount is None):
            raise ValueError("a discount has exactly one of rate or amount")
        return self

    @property
    def is_full(self) -> bool:
        return self.rate == FULL_RATE

    def taken_off(self, price: Decimal) -> Decimal:
        """What the discount takes off `price`, never more than the price."""
        if self.rate is not None:
            return (price * self.rate).quantize(CENT, rounding=ROUND_HALF_UP)
        return min(price, self.amount or Decimal("0"))


def normalize_code(code: str) -> str:
    """Codes are looked up case-insensitively, whatever the spaces around them."""
    return code.strip().upper()


class VoucherUse(BaseModel):
    """An order that used the voucher: its owner (None for a to_own order) and state."""

    owner_id: str | None
    state: OrderState


def _counted(uses: Iterable[VoucherUse]) -> list[VoucherUse]:
    # Ownerless (to_own) orders hold the voucher for their future owner and
    # inactive orders gave it back: neither counts as a use.
    return [use for use in uses if use.owner_id is not None and is_active(use.state)]


def is_usable_by(
    *,
    user_id: str,
    multiple_use: bool,
    multiple_users: bool,
    uses: Iterable[VoucherUse],
) -> bool:
    """Joanie's rule: both flags, always; neither, only while unused;
    multiple_use only, by one user many times; multiple_users only, by many
    users once each."""
    counted = _counted(uses)
    if multiple_use and multiple_users:
        return True
    if not multiple_use and not multiple_users:
        return not counted
    if multiple_use:
        return all(use.owner_id == user_id for use in counted)
    return all(use.owner_id != user_id for use in counted)


CODE_LENGTH = 20  # 100 bits: unguessable, still short enough to copy


def new_code() -> str:
    """A random code for the voucher of a prepaid seat."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
