"""Academy subscriptions as the payment provider runs them: what its events
say, and the rule that folds them into Guichet's copy. Pure: no I/O,
importable from workflows.

Stripe delivers events at least once, late and in any order. Each is stored
once; its word on the subscription's state (status, cancellation) is taken
only when it is newer than the last one applied, so a late event never undoes
a newer one. A period paid stays paid whatever the order: the period end only
moves forward."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.errors import Conflict, NotFound, error_class

SubscriptionNotFound = error_class(NotFound, "subscription_not_found")
SubscriptionNotActive = error_class(Conflict, "subscription_not_active")

BACKFILL_SCHEDULE_ID = "stripe-events-backfill"
BACKFILL_WORKFLOW_PREFIX = "stripe-events-backfill-"
NOTICE_WORKFLOW_PREFIX = "subscription-notice:"
# How far back the backfill looks (Stripe keeps 30 days of events).
BACKFILL_WINDOW = timedelta(days=3)
# A billing reason of the invoice that opens a subscription: its money is the
# checkout's, already in the cash book under the intent.
FIRST_INVOICE = "subscription_create"


class SubscriptionStatus(StrEnum):
    """Stripe's statuses, kept as Stripe says them."""

    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    UNPAID = "unpaid"
    CANCELED = "canceled"
    PAUSED = "paused"


# The learner keeps the academy while the provider still tries to collect.
LIVE = frozenset(
    {SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE}
)


def status_of(value: str | None) -> SubscriptionStatus | None:
    """A status Guichet knows, None for one it does not (left unchanged)."""
    try:
        return SubscriptionStatus(value) if value else None
    except ValueError:
        return None


class SubscriptionNotice(StrEnum):
    """What the learner is told of, by mail."""

    PAYMENT_FAILED = "subscription_payment_failed"


class SubscriptionNews(BaseModel):
    """One provider event about a subscription, in Guichet's terms. A field
    left None says nothing about it."""

    event_id: str
    type: str
    # When the provider made the event: the order they are applied in.
    created: datetime
    subscription_id: str = Field(min_length=1, max_length=255)
    # Our intent, as the checkout session and its subscription carry it.
    checkout_intent_id: str | None = Field(default=None, max_length=255)
    customer_id: str | None = Field(default=None, max_length=255)
    status: SubscriptionStatus | None = None
    current_period_end: datetime | None = None
    # True when the event states the cancellation (cancel_at may then be None: none).
    states_cancellation: bool = False
    cancel_at: datetime | None = None
    canceled_at: datetime | None = None
    # An invoice paid: what it cashed, once per invoice.
    invoice_id: str | None = Field(default=None, max_length=255)
    billing_reason: str | None = Field(default=None, max_length=64)
    amount: Decimal | None = Field(default=None, ge=0, le=Decimal("99999999.99"))
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    notice: SubscriptionNotice | None = None

    @property
    def renews(self) -> bool:
        """An invoice paid after the first: its money goes in the cash book."""
        return (
            self.invoice_id is not None
            and self.amount is not None
            and self.currency is not None
            and self.billing_reason != FIRST_INVOICE
        )


class SubscriptionState(BaseModel):
    """Guichet's copy of a subscription, as the fold reads and writes it."""

    subscription_id: str | None = None
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    current_period_end: datetime | None = None
    cancel_at: datetime | None = None
    canceled_at: datetime | None = None
    # The `created` time of the last event whose state was taken.
    last_event_at: datetime | None = None

    @property
    def is_live(self) -> bool:
        return self.status in LIVE


def later(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None or second is None:
        return first or second
    return max(first, second)


def fold(state: SubscriptionState, news: SubscriptionNews) -> tuple[SubscriptionState, bool]:
    """The state after `news`, and whether its word on the state was taken
    (False: older than what was applied, only its paid period counts)."""
    period_end = later(state.current_period_end, news.current_period_end)
    if state.last_event_at is not None and news.created < state.last_event_at:
        return state.model_copy(update={"current_period_end": period_end}), False
    changes: dict[str, object] = {
        "subscription_id": news.subscription_id,
        "current_period_end": period_end,
        "last_event_at": news.created,
    }
    if news.status is not None:
        changes["status"] = news.status
    if news.states_cancellation:
        changes["cancel_at"] = news.cancel_at
    if news.canceled_at is not None or news.status is SubscriptionStatus.CANCELED:
        changes["canceled_at"] = news.canceled_at or news.created
    return state.model_copy(update=changes), True


class CancelAnswer(BaseModel):
    """The provider's subscription once told to cancel at its period end."""

    status: SubscriptionStatus | None = None
    cancel_at: datetime | None = None
    current_period_end: datetime | None = None


class NoticeRequest(BaseModel):
    """A mail about a subscription event, sent once per event."""

    event_id: str
    subscription_row_id: uuid.UUID
    notice: SubscriptionNotice


def notice_workflow_id(event_id: str) -> str:
    return f"{NOTICE_WORKFLOW_PREFIX}{event_id}"
