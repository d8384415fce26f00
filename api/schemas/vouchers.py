"""Request and response bodies of the vouchers administration (spec 55)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from api.schemas.common import (
    DiscountRateOut,
    InputModel,
    MoneyIn,
    MoneyOut,
    OutputModel,
    UtcDatetime,
)
from domain.orders import OrderState, is_active
from domain.vouchers import MAX_CODE_LENGTH, Discount, VoucherKind, given_code
from services.vouchers import VoucherView

MAX_USES = 1_000_000


class DiscountIn(InputModel):
    """Exactly one: `rate` (0.2 for 20 %, at most 1) or `amount` (off the price)."""

    rate: Annotated[Decimal, Field(gt=0, le=1, decimal_places=4, max_digits=5)] | None = None
    amount: Annotated[MoneyIn, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> DiscountIn:
        if (self.rate is None) == (self.amount is None):
            raise ValueError("a discount has exactly one of rate or amount")
        return self

    def domain(self) -> Discount:
        return Discount(rate=self.rate, amount=self.amount)


VoucherCode = Annotated[
    str,
    Field(max_length=MAX_CODE_LENGTH, examples=["RENTREE-2027"]),
    AfterValidator(given_code),
]
MaxUses = Annotated[int, Field(ge=1, le=MAX_USES)]


class VoucherIn(InputModel):
    """A discount voucher. No `code`: a random 20-character one."""

    code: VoucherCode | None = None
    discount: DiscountIn
    multiple_use: bool = Field(
        default=False, description="One learner may use it for several orders."
    )
    multiple_users: bool = Field(default=False, description="Several learners may use it.")
    valid_from: UtcDatetime | None = None
    valid_until: UtcDatetime | None = None
    max_uses: MaxUses | None = Field(
        default=None, description="At most this many counted orders (null: no cap)."
    )
    offering_id: uuid.UUID | None = Field(default=None, description="Only for this offering.")
    is_active: bool = True

    def fields(self) -> dict[str, Any]:
        return self.model_dump(exclude={"code", "discount"}) | {"discount": self.discount.domain()}


# Fields a PATCH may not clear with null (they always have a value).
REQUIRED_ON_PATCH = ("discount", "multiple_use", "multiple_users", "is_active")


class VoucherPatch(InputModel):
    """Only the fields sent change; null clears a date, the cap or the
    offering. The code never changes once handed out."""

    discount: DiscountIn | None = None
    multiple_use: bool | None = None
    multiple_users: bool | None = None
    valid_from: UtcDatetime | None = None
    valid_until: UtcDatetime | None = None
    max_uses: MaxUses | None = None
    offering_id: uuid.UUID | None = None
    is_active: bool | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> VoucherPatch:
        cleared = [name for name in REQUIRED_ON_PATCH if name in self.model_fields_set]
        if any(getattr(self, name) is None for name in cleared):
            raise ValueError(f"{', '.join(REQUIRED_ON_PATCH)} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        changes = {name: getattr(self, name) for name in self.model_fields_set}
        if self.discount is not None:
            changes["discount"] = self.discount.domain()
        return changes


class DiscountOut(OutputModel):
    rate: DiscountRateOut | None
    amount: MoneyOut | None


class OfferingRef(OutputModel):
    id: uuid.UUID
    course_code: str
    course_title: str
    product_title: str


class UsageOut(OutputModel):
    uses: int = Field(
        description="Orders counted: placed by a learner and not canceled or refunded."
    )
    users: int = Field(description="Learners who placed them.")


class VoucherOut(OutputModel):
    id: uuid.UUID
    code: str
    kind: VoucherKind
    discount: DiscountOut
    multiple_use: bool
    multiple_users: bool
    valid_from: datetime | None
    valid_until: datetime | None
    max_uses: int | None
    offering: OfferingRef | None
    is_active: bool
    usage: UsageOut
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class VoucherOrderOut(OutputModel):
    order_id: uuid.UUID
    owner_id: str | None
    email: str | None
    state: OrderState
    total: MoneyOut
    created_at: datetime
    counted: bool = Field(description="Counts as a use (max_uses, usage).")


class VoucherDetail(VoucherOut):
    orders: list[VoucherOrderOut] = Field(
        description="Its newest 50 orders; all of them: GET /api/v1/admin/orders?voucher_code="
    )


def voucher_out(view: VoucherView) -> VoucherOut:
    voucher = view.voucher
    offering = voucher.offering
    return VoucherOut(
        id=voucher.id,
        code=voucher.code,
        kind=VoucherKind.PREPAID_SEAT if voucher.for_prepaid_seat else VoucherKind.DISCOUNT,
        discount=DiscountOut(rate=voucher.discount_rate, amount=voucher.discount_amount),
        multiple_use=voucher.multiple_use,
        multiple_users=voucher.multiple_users,
        valid_from=voucher.valid_from,
        valid_until=voucher.valid_until,
        max_uses=voucher.max_uses,
        offering=OfferingRef(
            id=offering.id,
            course_code=offering.course.code,
            course_title=offering.course.title,
            product_title=offering.product.title,
        )
        if offering is not None
        else None,
        is_active=voucher.is_active,
        usage=UsageOut(uses=view.usage.uses, users=view.usage.users),
        created_by=voucher.created_by,
        created_at=voucher.created_at,
        updated_at=voucher.updated_at,
    )


def voucher_detail(view: VoucherView) -> VoucherDetail:
    orders = [
        VoucherOrderOut(
            order_id=order.id,
            owner_id=order.owner_id,
            email=email,
            state=OrderState(order.state),
            total=order.total,
            created_at=order.created_at,
            counted=order.owner_id is not None and is_active(OrderState(order.state)),
        )
        for order, email in view.orders
    ]
    return VoucherDetail(**voucher_out(view).model_dump(), orders=orders)


CSV_COLUMNS = [
    "code", "kind", "discount_rate", "discount_amount", "multiple_use", "multiple_users",
    "valid_from", "valid_until", "max_uses", "uses", "users", "course_code", "product",
    "is_active", "created_by", "created_at",
]  # fmt: skip


def csv_row(view: VoucherView) -> list[object]:
    """The JSON's values (rates and amounts as the API writes them)."""
    data = voucher_out(view).model_dump(mode="json")
    offering = data["offering"] or {}
    flags = ("multiple_use", "multiple_users", "is_active")
    cells = {name: "yes" if data[name] else "no" for name in flags}
    return [
        data["code"],
        data["kind"],
        data["discount"]["rate"] or "",
        data["discount"]["amount"] or "",
        cells["multiple_use"],
        cells["multiple_users"],
        data["valid_from"] or "",
        data["valid_until"] or "",
        data["max_uses"] or "",
        data["usage"]["uses"],
        data["usage"]["users"],
        offering.get("course_code", ""),
        offering.get("product_title", ""),
        cells["is_active"],
        data["created_by"] or "",
        data["created_at"],
    ]
