"""The fold of a subscription's events (late ones never undo newer ones),
Stripe's subscription events read in Guichet's terms, and the dummy
checkout's billing periods."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.subscriptions import (
    SubscriptionNews,
    SubscriptionNotice,
    SubscriptionState,
    SubscriptionStatus,
    fold,
)
from integrations.payments.base import PaymentEventKind
from integrations.payments.dummy_checkout import paid_events, period_end
from integrations.payments.stripe import _event_of

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


def _news(seconds: int, **fields) -> SubscriptionNews:
    return SubscriptionNews(
        event_id=f"evt_{seconds}",
        type="customer.subscription.updated",
        created=T0 + timedelta(seconds=seconds),
        subscription_id="sub_1",
        **fields,
    )


def test_a_late_event_keeps_only_its_paid_period() -> None:
    past_due = _news(20, status=SubscriptionStatus.PAST_DUE)
    state, taken = fold(SubscriptionState(), past_due)
    assert taken and state.status is SubscriptionStatus.PAST_DUE
    late_paid = _news(10, status=SubscriptionStatus.ACTIVE, current_period_end=T0 + timedelta(30))
    after, taken = fold(state, late_paid)
    assert not taken
    assert after.status is SubscriptionStatus.PAST_DUE and after.last_event_at == past_due.created
    assert after.current_period_end == T0 + timedelta(30)  # a period paid stays paid


def test_cancellation_is_stated_by_subscription_events_only() -> None:
    canceling = _news(
        1, status=SubscriptionStatus.ACTIVE, states_cancellation=True, cancel_at=T0 + timedelta(30)
    )
    state, _ = fold(SubscriptionState(), canceling)
    assert state.cancel_at == T0 + timedelta(30) and state.is_live
    # An invoice says nothing of it: the cancellation stays.
    paid = _news(2, status=SubscriptionStatus.ACTIVE, invoice_id="in_1")
    state, _ = fold(state, paid)
    assert state.cancel_at == T0 + timedelta(30)
    ended = _news(3, status=SubscriptionStatus.CANCELED)
    state, _ = fold(state, ended)
    assert not state.is_live and state.canceled_at == ended.created


@given(st.permutations(range(6)))
def test_any_order_of_delivery_ends_in_the_newest_state(order: list[int]) -> None:
    statuses = [SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE] * 3
    events = [
        _news(i, status=statuses[i], current_period_end=T0 + timedelta(days=30 * (i + 1)))
        for i in range(6)
    ]
    state = SubscriptionState()
    for index in order:
        state, _ = fold(state, events[index])
    assert state.status is statuses[-1]
    assert state.current_period_end == T0 + timedelta(days=180)
    assert state.last_event_at == events[-1].created


def _stripe(event_type: str, thing: dict, created: int = 1_780_000_000) -> dict:
    return {"id": "evt_1", "type": event_type, "created": created, "data": {"object": thing}}


def test_stripe_invoices_old_and_new_shapes() -> None:
    lines = {"data": [{"period": {"start": 1_780_000_000, "end": 1_782_592_000}}]}
    new_shape = {
        "id": "in_1",
        "object": "invoice",
        "billing_reason": "subscription_cycle",
        "amount_paid": 2900,
        "currency": "eur",
        "customer": "cus_1",
        "parent": {
            "subscription_details": {
                "subscription": "sub_1",
                "metadata": {"checkout_intent_id": "intent-1"},
            }
        },
        "lines": lines,
    }
    event = _event_of(_stripe("invoice.paid", new_shape))
    news = event.subscription
    assert event.kind is PaymentEventKind.INVOICE_PAID and news is not None
    assert (news.subscription_id, news.checkout_intent_id, news.status) == (
        "sub_1",
        "intent-1",
        SubscriptionStatus.ACTIVE,
    )
    assert news.current_period_end == datetime.fromtimestamp(1_782_592_000, UTC)
    assert (news.amount, news.currency, news.renews) == (Decimal("29.00"), "EUR", True)
    # A renewal names the intent too, but pays no checkout: it is not the first invoice.
    assert not event.pays_checkout
    old_shape = {k: v for k, v in new_shape.items() if k != "parent"} | {
        "subscription": "sub_1",
        "billing_reason": "subscription_create",
    }
    first = _event_of(_stripe("invoice.paid", old_shape))
    assert first.subscription is not None and first.subscription.subscription_id == "sub_1"
    assert not first.subscription.renews  # the checkout's money, counted under the intent
    failed = _event_of(_stripe("invoice.payment_failed", new_shape))
    assert failed.subscription is not None
    assert failed.subscription.status is SubscriptionStatus.PAST_DUE
    assert failed.subscription.notice is SubscriptionNotice.PAYMENT_FAILED
    assert failed.subscription.amount is None


def test_stripe_subscription_updates_carry_the_cancellation() -> None:
    thing = {
        "id": "sub_1",
        "object": "subscription",
        "status": "active",
        "cancel_at_period_end": True,
        "cancel_at": None,
        "metadata": {"checkout_intent_id": "intent-1"},
        # API 2025-03 and later: the period is on the items.
        "items": {"data": [{"current_period_end": 1_782_592_000}]},
    }
    news = _event_of(_stripe("customer.subscription.updated", thing)).subscription
    assert news is not None and news.states_cancellation
    assert news.cancel_at == news.current_period_end == datetime.fromtimestamp(1_782_592_000, UTC)
    deleted = dict(thing, status="canceled", ended_at=1_781_000_000)
    gone = _event_of(_stripe("customer.subscription.deleted", deleted)).subscription
    assert gone is not None and gone.status is SubscriptionStatus.CANCELED
    assert gone.canceled_at == datetime.fromtimestamp(1_781_000_000, UTC)
    unknown = _event_of(_stripe("customer.subscription.updated", dict(thing, status="weird")))
    assert unknown.subscription is not None and unknown.subscription.status is None


def test_a_subscription_event_about_nothing_of_ours_is_plain() -> None:
    # A one-off payment's session: no subscription to keep.
    session = {"id": "cs_1", "object": "checkout.session", "mode": "payment"}
    assert _event_of(_stripe("checkout.session.completed", session)).subscription is None
    billed = {"object": "invoice", "id": "in_1", "subscription": "sub_1"}
    with pytest.raises(ValueError):  # the order of events is its time: it must have one
        _event_of(dict(_stripe("invoice.paid", billed), created="x"))


@pytest.mark.parametrize(
    ("start", "interval", "end"),
    [
        (datetime(2026, 1, 31, tzinfo=UTC), "month", datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2028, 1, 31, tzinfo=UTC), "month", datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 12, 15, tzinfo=UTC), "month", datetime(2027, 1, 15, tzinfo=UTC)),
        (datetime(2028, 2, 29, tzinfo=UTC), "year", datetime(2029, 2, 28, tzinfo=UTC)),
        (datetime(2026, 12, 15, tzinfo=UTC), "week", datetime(2026, 12, 22, tzinfo=UTC)),
    ],
)
def test_billing_periods(start: datetime, interval: str, end: datetime) -> None:
    assert period_end(start, interval) == end


def test_the_dummy_checkout_tells_what_stripe_would() -> None:
    session, invoice = paid_events(
        intent_id="0b9c1",
        user_id="learner-1",
        amount=Decimal("29.00"),
        currency="eur",
        interval="month",
        now=T0,
    )
    assert (session.kind, invoice.kind) == (
        PaymentEventKind.CHECKOUT_COMPLETED,
        PaymentEventKind.INVOICE_PAID,
    )
    assert session.pays_checkout and invoice.pays_checkout
    assert invoice.subscription is not None and not invoice.subscription.renews
    assert invoice.subscription.current_period_end == datetime(2027, 1, 1, 9, tzinfo=UTC)
    # As sent over the dummy webhook: Guichet's own JSON, read back the same.
    assert json.loads(invoice.model_dump_json())["subscription"]["subscription_id"].startswith(
        "dummy_sub_"
    )
