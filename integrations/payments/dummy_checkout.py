"""The dummy backend's hosted checkout: a page of ours where the learner
pays for an academy subscription (or leaves), and the events Stripe would
send about it, in Guichet's own PaymentEvent shape. The page hands them to
the same receiver as a webhook, so the embedded stack goes from an academy
to an active subscription without a provider.

Every id is derived from the intent: paying twice tells the same events
twice, and the receiver keeps them once."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from decimal import Decimal

from domain.subscriptions import FIRST_INVOICE, SubscriptionNews, SubscriptionStatus
from integrations.payments.base import PaymentEvent, PaymentEventKind

DUMMY_CHECKOUT_PAGE = "/api/v1/dummy-payments/checkout"


def session_reference(intent_id: str) -> str:
    return f"dummy_cs_{intent_id.replace('-', '')}"


def subscription_reference(intent_id: str) -> str:
    return f"dummy_sub_{intent_id.replace('-', '')}"


def customer_reference(user_id: str) -> str:
    return f"dummy_cus_{user_id}"


def period_end(start: datetime, interval: str, count: int = 1) -> datetime:
    """The end of a billing period begun at `start` (a month keeps its day,
    or the month's last one: 31 January → 28 or 29 February)."""
    if interval in ("day", "week"):
        return start + timedelta(days=count * (7 if interval == "week" else 1))
    months = count * (12 if interval == "year" else 1)
    year, month = divmod(start.month - 1 + months, 12)
    year, month = start.year + year, month + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def paid_events(
    *,
    intent_id: str,
    user_id: str,
    amount: Decimal,
    currency: str,
    interval: str,
    now: datetime,
) -> list[PaymentEvent]:
    """What Stripe sends when a subscription checkout is paid: the session
    completed, then the subscription's first invoice paid."""
    subscription = subscription_reference(intent_id)
    customer = customer_reference(user_id)
    common = {
        "checkout_intent_id": intent_id,
        "customer_id": customer,
        "amount": amount,
        "currency": currency.upper(),
    }
    session_news = SubscriptionNews(
        event_id=f"dummy_evt_cs_{intent_id}",
        type="checkout.session.completed",
        created=now,
        subscription_id=subscription,
        checkout_intent_id=intent_id,
        customer_id=customer,
        status=SubscriptionStatus.ACTIVE,
    )
    invoice_news = session_news.model_copy(
        update={
            "event_id": f"dummy_evt_in_{intent_id}",
            "type": "invoice.paid",
            "current_period_end": period_end(now, interval),
            "invoice_id": f"dummy_in_{intent_id.replace('-', '')}",
            "billing_reason": FIRST_INVOICE,
            "amount": amount,
            "currency": currency.upper(),
        }
    )
    return [
        PaymentEvent(
            event_id=session_news.event_id,
            type=session_news.type,
            kind=PaymentEventKind.CHECKOUT_COMPLETED,
            checkout_session_id=session_reference(intent_id),
            subscription=session_news,
            **common,
        ),
        PaymentEvent(
            event_id=invoice_news.event_id,
            type=invoice_news.type,
            kind=PaymentEventKind.INVOICE_PAID,
            subscription=invoice_news,
            **common,
        ),
    ]
