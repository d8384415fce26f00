"""Request and response bodies of orders."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import EmailStr, Field, model_validator

from api.schemas.catalog import CourseSummary, OrganizationSummary
from api.schemas.common import InputModel, MoneyOut, OutputModel
from domain.catalog import ProductType
from domain.orders import InstallmentState, OrderState
from domain.payments import CardSource

Line = Annotated[str, Field(min_length=1, max_length=255)]


class BillingAddressIn(InputModel):
    first_name: Line
    last_name: Line
    address: Annotated[str, Field(min_length=1, max_length=500)]
    postcode: Annotated[str, Field(min_length=1, max_length=20)]
    city: Line
    country: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]


class OrderCreate(InputModel):
    """Either `offering_id`, or `product_id` with `course_code`."""

    offering_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None
    course_code: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    organization_id: uuid.UUID | None = None
    voucher_code: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    billing_address: BillingAddressIn | None = None
    has_waived_withdrawal_right: bool = False
    # The order's mails are written in it; by default the Accept-Language
    # header's preference among fr and en, else fr.
    language: Literal["fr", "en"] | None = None

    @model_validator(mode="after")
    def _one_way_to_name_the_offering(self) -> OrderCreate:
        by_pair = self.product_id is not None and self.course_code is not None
        if (self.offering_id is not None) == by_pair or (
            self.offering_id is None and (self.product_id is None) != (self.course_code is None)
        ):
            raise ValueError("give either offering_id, or product_id with course_code")
        return self


Reference = Annotated[str, Field(min_length=1, max_length=255)]


class PaymentMethodIn(InputModel):
    """Either the token of the provider's front-end SDK, or a card setup the
    learner confirmed (`POST …/payment-method/setup`)."""

    payment_method_id: Reference | None = None
    setup_reference: Reference | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> PaymentMethodIn:
        if (self.payment_method_id is None) == (self.setup_reference is None):
            raise ValueError("give either payment_method_id or setup_reference")
        return self


class PayNowIn(InputModel):
    """The card to pay with: a token, a confirmed setup, or neither (the
    saved card)."""

    payment_method_id: Reference | None = None
    setup_reference: Reference | None = None

    @model_validator(mode="after")
    def _at_most_one(self) -> PayNowIn:
        if self.payment_method_id is not None and self.setup_reference is not None:
            raise ValueError("give payment_method_id or setup_reference, not both")
        return self

    def card(self) -> CardSource | None:
        if self.payment_method_id is None and self.setup_reference is None:
            return None
        return CardSource(token=self.payment_method_id, setup_reference=self.setup_reference)


class CardSetupIn(InputModel):
    """The dummy backend takes the card here (no Stripe.js confirms its
    setup); with Stripe, leave it out and confirm with Stripe.js."""

    payment_method_id: Reference | None = None


class CardSetupOut(OutputModel):
    provider: str
    setup_reference: str
    client_secret: str
    next_action_url: str | None


class PendingPaymentOut(OutputModel):
    """A charge the bank wants the learner to authenticate: confirm it with
    Stripe.js (`client_secret`) or send the learner to `next_action_url`."""

    client_secret: str
    amount: MoneyOut
    currency: str
    next_action_url: str | None


class ProductSummary(OutputModel):
    id: uuid.UUID
    type: ProductType
    title: str


class OfferingSummary(OutputModel):
    id: uuid.UUID
    course: CourseSummary
    product: ProductSummary


class InstallmentOut(OutputModel):
    id: uuid.UUID
    due_date: date
    amount: MoneyOut
    state: InstallmentState
    # Why the provider refused its last charge (insufficient_funds, lost_card…).
    decline_code: str | None = None


class ContractSummary(OutputModel):
    id: uuid.UUID
    submitted_for_signature_on: datetime | None
    student_signed_on: datetime | None
    organization_signed_on: datetime | None


class PaymentMethodOut(OutputModel):
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class OrderOut(OutputModel):
    id: uuid.UUID
    state: OrderState
    # The language of the order's mails.
    language: str
    offering: OfferingSummary
    organization: OrganizationSummary | None
    price: MoneyOut
    discount: MoneyOut
    total: MoneyOut
    currency: str
    payment_schedule: list[InstallmentOut] = Field(validation_alias="installments")
    contract: ContractSummary | None
    payment_method: PaymentMethodOut | None
    voucher_code: str | None = None
    # The end of the EU withdrawal period (POST …/withdraw until then); null
    # when waived, free or prepaid, or while the contract waits for the
    # learner's signature.
    withdrawal_deadline: datetime | None = None
    # Since when the enrollments are suspended (an installment unpaid past
    # the dunning grace period); null once paid.
    suspended_at: datetime | None = None
    created_at: datetime


class PlannedPayment(OutputModel):
    due_date: date
    amount: MoneyOut


class PaymentPlan(OutputModel):
    price: MoneyOut
    discount: MoneyOut
    discounted_price: MoneyOut
    currency: str
    payment_schedule: list[PlannedPayment]
    skip_contract_inputs: bool


class PrepaidOrdersCreate(InputModel):
    """Seats sold in advance (standalone or bulk sale): `count` ownerless
    orders, each claimed by a learner with its own voucher."""

    product_id: uuid.UUID
    course_code: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    organization_id: uuid.UUID | None = None
    count: Annotated[int, Field(ge=1, le=1000)] = 1


class VoucherState(OutputModel):
    code: str
    is_used: bool


class OrderEventOut(OutputModel):
    at: datetime
    type: str
    from_state: str | None
    to_state: str | None
    detail: dict


class AdminOrderOut(OrderOut):
    owner_id: str | None
    voucher: VoucherState | None = None


class AdminOrderDetail(AdminOrderOut):
    events: list[OrderEventOut]


class InvitationLink(OutputModel):
    invitation_link: str


class ContractOut(OutputModel):
    id: uuid.UUID
    order_id: uuid.UUID
    definition_title: str
    context: dict
    document_checksum: str | None
    signature_backend: str | None
    submitted_for_signature_on: datetime | None
    student_signed_on: datetime | None
    organization_signed_on: datetime | None
    organization_signatory: dict[str, str] | None
    created_at: datetime


class SignatureStateOut(OutputModel):
    student: bool
    organization: bool


class VoucherEmailIn(InputModel):
    email: EmailStr
    name: Annotated[str, Field(max_length=255)] = ""


class VoucherEmailOut(OutputModel):
    sent: bool


# --- shaping an order for the API (routes and back-office pages alike) ------------


def order_out(order: Any) -> OrderOut:
    out = OrderOut.model_validate(order)
    return out.model_copy(update={"voucher_code": order.voucher.code if order.voucher else None})


def admin_order_out(order: Any) -> AdminOrderOut:
    voucher = (
        VoucherState(code=order.voucher.code, is_used=order.owner_id is not None)
        if order.voucher
        else None
    )
    return AdminOrderOut(**order_out(order).model_dump(), owner_id=order.owner_id, voucher=voucher)


def admin_order_detail(order: Any, events: list[Any]) -> AdminOrderDetail:
    return AdminOrderDetail(
        **admin_order_out(order).model_dump(),
        events=[OrderEventOut.model_validate(event) for event in events],
    )
