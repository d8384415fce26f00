"""The emails Guichet sends, and what each one says (pure data and formatting)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel

from domain.errors import Unprocessable, error_class
from domain.payment_schedule import paris_day

# A mail the server refused for good, or that could not be sent after every
# attempt: recorded on the order (`email_failed`), never retried further.
EmailNotSent = error_class(Unprocessable, "email_not_sent")


class EmailKind(StrEnum):
    ORDER_CONFIRMED = "order_confirmed"
    INSTALLMENT_REMINDER = "installment_reminder"
    INSTALLMENT_PAID = "installment_paid"
    INSTALLMENTS_FULLY_PAID = "installments_fully_paid"
    INSTALLMENT_REFUSED = "installment_refused"
    ORDER_REFUNDED = "order_refunded"
    VOUCHER_ISSUED = "voucher_issued"
    INSTALLMENT_ACTION_REQUIRED = "installment_action_required"
    ORDER_CANCELED = "order_canceled"
    # To the learner and, in copy, the organization's signatories.
    ORDER_WITHDRAWN = "order_withdrawn"
    ORDER_SUSPENDED = "order_suspended"
    CARD_EXPIRING = "card_expiring"
    # About an academy subscription, not an order.
    SUBSCRIPTION_PAYMENT_FAILED = "subscription_payment_failed"
    # To a promo campaign's creator (product_title: the campaign's name).
    CAMPAIGN_EXPIRING = "campaign_expiring"


LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"

MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")  # fmt: skip
CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}


def language_of(requested: str | None) -> str:
    return requested if requested in LANGUAGES else DEFAULT_LANGUAGE


def preferred_language(accept_language: str | None) -> str:
    """The language of our mails an Accept-Language header prefers most
    (`en-GB,en;q=0.9,fr;q=0.8` → en), French when it names none of them."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "")[:500].split(",")):
        tag, _, parameters = part.strip().partition(";")
        weight = 1.0
        if parameters.strip().startswith("q="):
            try:
                weight = float(parameters.strip()[2:])
            except ValueError:
                continue
        language = tag.strip().lower().split("-")[0]
        if language in LANGUAGES and weight > 0:
            ranked.append((-weight, position, language))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE


def format_money(amount: Decimal, currency: str, language: str) -> str:
    """135,00 € in French, €135.00 in English; -€135.00 given back."""
    symbol = CURRENCY_SYMBOLS.get(currency, currency)
    sign = "-" if amount < 0 else ""
    if language == "fr":
        whole, cents = f"{abs(amount):,.2f}".replace(",", "\u202f").split(".")
        return f"{sign}{whole},{cents}\u00a0{symbol}"
    return f"{sign}{symbol}{abs(amount):,.2f}"


def format_date(day: date, language: str) -> str:
    if language == "fr":
        return day.strftime("%d/%m/%Y")
    return f"{day.day} {MONTHS_EN[day.month - 1]} {day.year}"


class MailRecipient(BaseModel):
    """Someone to write to who is not the order's owner (a prepaid seat's
    future learner)."""

    email: str
    name: str = ""


class FrontendLinks(BaseModel):
    """Where the learner's front end shows an order and pays an installment:
    templates with `{order_id}` (and `{installment_id}`), as set by
    GUICHET_FRONTEND_ORDER_PAGE and GUICHET_FRONTEND_PAY_PAGE."""

    order_page: str = "http://localhost:3000/orders/{order_id}"
    pay_page: str = "http://localhost:3000/orders/{order_id}/installments/{installment_id}/pay"

    def order_url(self, order_id: uuid.UUID) -> str:
        return self.order_page.format(order_id=order_id)

    def pay_url(self, order_id: uuid.UUID, installment_id: uuid.UUID) -> str:
        return self.pay_page.format(order_id=order_id, installment_id=installment_id)


def check_link_template(template: str, *, placeholders: tuple[str, ...]) -> None:
    """A link template names only the placeholders it will be given."""
    try:
        template.format(**{name: "x" for name in placeholders})
    except (KeyError, IndexError, ValueError):
        raise ValueError(
            "may only use " + ", ".join("{" + name + "}" for name in placeholders)
        ) from None


class InstallmentFacts(BaseModel):
    position: int
    count: int
    amount: Decimal
    due_date: date


class EmailContext(BaseModel):
    """Everything a template may show."""

    learner_name: str
    # None in mails about an academy subscription (product_title: the academy).
    order_id: uuid.UUID | None = None
    product_title: str
    course_title: str = ""
    organization_title: str = ""
    total: Decimal = Decimal("0.00")
    currency: str = "EUR"
    card_last4: str | None = None
    # "12/2034": the month the saved card expires.
    card_expiry: str | None = None
    installment: InstallmentFacts | None = None
    voucher_code: str | None = None
    # A refused installment the dunning ladder charges again then (None: a
    # new card is needed).
    next_retry_at: datetime | None = None
    # What went back to the learner (the refund mail says how much).
    refunded: Decimal | None = None
    # The learner's front end: the order, and where to pay the installment.
    order_url: str | None = None
    pay_url: str | None = None
    # Where the learner sees their academy subscriptions.
    subscriptions_url: str | None = None
    # A promo campaign's end and its codes used and not (campaign_expiring).
    ends_at: datetime | None = None
    used_count: int | None = None
    unused_count: int | None = None

    @property
    def ends_on(self) -> date | None:
        """The French day a campaign ends."""
        return paris_day(self.ends_at) if self.ends_at else None

    @property
    def next_retry_on(self) -> date | None:
        """The French day of the next automatic retry."""
        return paris_day(self.next_retry_at) if self.next_retry_at else None


def sample_context() -> EmailContext:
    """Made-up data for previewing templates."""
    return EmailContext(
        learner_name="Ada Lovelace",
        order_id=uuid.UUID(int=42),
        product_title="Certificat Python data",
        course_title="Python pour l'analyse de données",
        organization_title="Université de Lyon",
        total=Decimal("450.00"),
        currency="EUR",
        card_last4="4242",
        card_expiry="03/2027",
        installment=InstallmentFacts(
            position=2, count=3, amount=Decimal("157.50"), due_date=date(2027, 4, 6)
        ),
        voucher_code="7KQ2M9XH4TRB1WZC0N3D",
        refunded=Decimal("292.50"),
        order_url="https://learn.example.org/orders/42",
        pay_url="https://learn.example.org/orders/42/installments/2/pay",
        subscriptions_url="https://learn.example.org/subscriptions",
        ends_at=datetime(2027, 6, 30, 21, 59, tzinfo=UTC),
        used_count=412,
        unused_count=88,
    )
