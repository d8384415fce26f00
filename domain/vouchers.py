"""Vouchers and discounts: what a code takes off, and who may still use it."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.catalog import CENT
from domain.codes import CODE_ALPHABET
from domain.errors import BadRequest, Conflict, NotFound, Unprocessable, error_class
from domain.orders import OrderState, is_active

InvalidVoucher = error_class(BadRequest, "invalid_voucher")
UnusableVoucher = error_class(BadRequest, "unusable_voucher")
VoucherNotValidForOffering = error_class(BadRequest, "voucher_not_valid_for_offering")
VoucherNotFound = error_class(NotFound, "voucher_not_found")
VoucherCodeTaken = error_class(Conflict, "voucher_code_taken")
# A prepaid seat's voucher is its order's: canceling the order retires it.
PrepaidSeatVoucher = error_class(Conflict, "voucher_of_prepaid_seat")
VoucherDatesOutOfOrder = error_class(Unprocessable, "voucher_dates_out_of_order")


class VoucherKind(StrEnum):
    """Discount vouchers are administered as such; a prepaid seat's voucher
    is made, claimed and retired with its order."""

    DISCOUNT = "discount"
    PREPAID_SEAT = "prepaid_seat"


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


class VoucherUsage(BaseModel):
    """What the back office shows of a voucher's use: counted orders, and
    how many learners placed them."""

    model_config = ConfigDict(frozen=True)

    uses: int = 0
    users: int = 0


def _counted(uses: Iterable[VoucherUse]) -> list[VoucherUse]:
    # Ownerless (to_own) orders hold the voucher for their future owner and
    # inactive orders gave it back: neither counts as a use.
    return [use for use in uses if use.owner_id is not None and is_active(use.state)]


def count_uses(uses: Iterable[VoucherUse]) -> int:
    """How many orders used the voucher, as max_uses and the usage count it."""
    return len(_counted(uses))


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


class Unusable(StrEnum):
    """Why a voucher that exists and is active cannot be used now (the
    `reason` of a 400 unusable_voucher)."""

    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    MAX_USES_REACHED = "max_uses_reached"
    ALREADY_USED = "already_used"


class Validity(BaseModel):
    """When and how often a voucher may be used: between its dates (both
    included, either open), at most `max_uses` counted orders."""

    model_config = ConfigDict(frozen=True)

    valid_from: datetime | None = None
    valid_until: datetime | None = None
    max_uses: int | None = Field(default=None, ge=1)

    def check_dates(self) -> None:
        """422 voucher_dates_out_of_order unless it starts before it ends."""
        if self.valid_from and self.valid_until and self.valid_from >= self.valid_until:
            raise VoucherDatesOutOfOrder(
                "valid_from must come before valid_until.",
                details={
                    "valid_from": _iso(self.valid_from),
                    "valid_until": _iso(self.valid_until),
                },
            )

    def refusal(self, *, at: datetime, used: int) -> UnusableVoucher | None:
        """Why nobody may use the voucher at `at` with `used` counted orders."""
        if self.valid_from is not None and at < self.valid_from:
            return _unusable(
                Unusable.NOT_YET_VALID,
                f"This voucher is valid from {_iso(self.valid_from)}.",
                valid_from=_iso(self.valid_from),
            )
        if self.valid_until is not None and at > self.valid_until:
            return _unusable(
                Unusable.EXPIRED,
                f"This voucher expired on {_iso(self.valid_until)}.",
                valid_until=_iso(self.valid_until),
            )
        if self.max_uses is not None and used >= self.max_uses:
            return _unusable(
                Unusable.MAX_USES_REACHED,
                f"This voucher has been used the {self.max_uses} times it allows.",
                max_uses=self.max_uses,
            )
        return None


def _iso(moment: datetime) -> str:
    """As the API writes moments: UTC, with a Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _unusable(reason: Unusable, message: str, **facts: object) -> UnusableVoucher:
    return UnusableVoucher(message, details={"reason": reason.value, **facts})


def already_used() -> UnusableVoucher:
    return _unusable(Unusable.ALREADY_USED, "This voucher has already been used.")


def check_usable(
    *,
    validity: Validity,
    user_id: str,
    multiple_use: bool,
    multiple_users: bool,
    uses: list[VoucherUse],
    at: datetime,
) -> None:
    """400 unusable_voucher with its reason, or nothing: the voucher's dates
    and cap first (true for anyone), then Joanie's rule for this user."""
    refusal = validity.refusal(at=at, used=count_uses(uses))
    if refusal is not None:
        raise refusal
    if not is_usable_by(
        user_id=user_id, multiple_use=multiple_use, multiple_users=multiple_users, uses=uses
    ):
        raise already_used()


# Letters, digits and single dashes or underscores between: what a learner
# can read aloud and type.
_GIVEN_CODE = re.compile(r"[A-Z0-9]+(?:[-_][A-Z0-9]+)*")
MIN_CODE_LENGTH, MAX_CODE_LENGTH = 3, 64


def given_code(code: str) -> str:
    """A code an operator chose, normalized; ValueError says what is wrong."""
    normalized = normalize_code(code)
    if not MIN_CODE_LENGTH <= len(normalized) <= MAX_CODE_LENGTH:
        raise ValueError(f"a code has {MIN_CODE_LENGTH} to {MAX_CODE_LENGTH} characters")
    if _GIVEN_CODE.fullmatch(normalized) is None:
        raise ValueError("a code holds letters A-Z, digits and single dashes or underscores")
    return normalized


CODE_LENGTH = 20  # 100 bits: unguessable, still short enough to copy


def new_code() -> str:
    """A random code for the voucher of a prepaid seat."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
