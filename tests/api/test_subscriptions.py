# ruff: noqa: F811 - the academies fixtures, imported by name
"""Academy checkout end to end (spec 40): the payment page made once per
intent, then the subscription living from Stripe's events (a fake of
Stripe's billing side on loopback, events signed as Stripe signs them),
delivered late, twice and out of order; its cancellation; the backfill of
events no webhook brought; and the dummy backend's own checkout page."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select
from temporalio.service import RPCError

from domain.subscriptions import BACKFILL_SCHEDULE_ID
from models.academies import CheckoutIntent
from models.accounting import LedgerEntry
from settings import PaymentBackend
from tests.api.test_academies import (  # noqa: F401 - fixtures
    WEBHOOK_SECRET,
    _sync,
    academy_settings,
    catalogue,
    stripe_prices,
)
from tests.api.test_payments_stripe import _signed
from tests.api.test_promo_codes import app  # noqa: F401 - the API with a worker
from tests.conftest import SmtpInbox
from tests.fakes.stripe_billing import MONTH, FakeStripeBilling
from tests.workflows.histories import save_history
from worker import ensure_backfill_schedule
from workflows.subscription import StripeEventsBackfillWorkflow


@pytest.fixture
def settings(settings, temporal_env, catalogue, stripe_prices, smtp):
    return academy_settings(settings, temporal_env, catalogue, stripe_prices).model_copy(
        update={
            "mail_backend": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp[1],
            "frontend_url": "https://learn.example.org",
        }
    )


@pytest.fixture
async def buyer(client_for) -> httpx.AsyncClient:
    return await client_for(sub="academy-buyer")


async def _deliver(client: httpx.AsyncClient, event: dict) -> str:
    body, signature = _signed(event, WEBHOOK_SECRET)
    answer = await client.post(
        "/api/v1/webhooks/stripe",
        content=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["status"]


async def _until(read, check, *, seconds: float = 60):
    """Poll `read()` until `check(value)`; the last value."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await read()
        if check(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.1)


async def _subscriptions(client: httpx.AsyncClient) -> list[dict]:
    answer = await client.get("/api/v1/subscriptions")
    assert answer.status_code == 200, answer.text
    return answer.json()["results"]


async def _intent(client: httpx.AsyncClient, intent_id: str) -> dict:
    return (await client.get(f"/api/v1/checkout-intents/{intent_id}")).json()


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def _paid_checkout(
    client: httpx.AsyncClient, stripe: FakeStripeBilling, academy: str = "prod_1"
) -> tuple[dict, str, list[dict]]:
    """An intent paid at Stripe: (intent, subscription id, its events, undelivered)."""
    intent = (await client.post("/api/v1/checkout-intents", json={"academy": academy})).json()
    session_id = intent["stripe_checkout_session_id"]
    events = stripe.complete(session_id)
    return intent, stripe.sessions[session_id]["subscription"], events


async def test_the_payment_page_is_made_once_per_intent(
    temporal_client, task_queue: str, buyer: httpx.AsyncClient, stripe_prices
) -> None:
    await _sync(temporal_client, task_queue)
    first = await buyer.post("/api/v1/checkout-intents", json={"academy": "prod_1"})
    assert first.status_code == 201, first.text
    intent = first.json()
    (session,) = stripe_prices.sessions.values()
    assert intent["checkout_url"] == session["url"]
    assert intent["stripe_checkout_session_id"] == session["id"]
    assert intent["stripe_customer_id"] == session["customer"]
    assert session["mode"] == "subscription"
    assert session["line_items"] == [{"price": "price_1", "quantity": "1"}]
    assert session["client_reference_id"] == intent["id"]
    assert session["metadata"] == {"checkout_intent_id": intent["id"]}
    assert session["subscription_data"] == {"metadata": {"checkout_intent_id": intent["id"]}}
    base = f"https://learn.example.org/academies/checkout/{intent['id']}"
    assert (session["success_url"], session["cancel_url"]) == (
        f"{base}/success",
        f"{base}/canceled",
    )
    # Open as long as the intent, within Stripe's 24 hours.
    expires = datetime.fromisoformat(intent["expires_at"])
    assert (
        abs(
            session["expires_at"]
            - min(expires, datetime.now(UTC) + timedelta(hours=24)).timestamp()
        )
        < 120
    )
    (customer,) = stripe_prices.customers.values()
    assert customer["metadata"] == {"guichet_user": "academy-buyer"}

    again = await buyer.post("/api/v1/checkout-intents", json={"academy": "academy-1"})
    assert (again.status_code, again.json()["checkout_url"]) == (200, session["url"])
    assert len(stripe_prices.sessions) == 1
    listed = (await buyer.get("/api/v1/checkout-intents")).json()["results"]
    assert [item["checkout_url"] for item in listed] == [session["url"]]


async def test_refusals_before_and_at_the_provider(
    temporal_client, task_queue: str, buyer: httpx.AsyncClient, stripe_prices, sessionmaker
) -> None:
    await _sync(temporal_client, task_queue)
    # Academy 3 has no Stripe price: nothing to subscribe at.
    priceless = await buyer.post("/api/v1/checkout-intents", json={"academy": "academy-3"})
    assert priceless.status_code == 409
    assert priceless.json()["error"]["code"] == "academy_not_purchasable"
    stripe_prices.refuse_sessions = True
    refused = await buyer.post("/api/v1/checkout-intents", json={"academy": "prod_2"})
    assert refused.status_code == 502, refused.text
    assert refused.json()["error"]["code"] == "checkout_unavailable"
    async with sessionmaker() as session:
        (kept,) = list(await session.scalars(select(CheckoutIntent)))
    # The intent stays, created, with the reason, until it expires.
    assert (kept.state, kept.checkout_url) == ("created", None)
    assert "No such price" in (kept.last_error or "")
    assert stripe_prices.session_requests == 1  # refused for good: not asked again


async def test_a_subscription_lives_from_events_late_and_out_of_order(
    temporal_client,
    task_queue: str,
    buyer: httpx.AsyncClient,
    client_for,
    stripe_prices,
    sessionmaker,
    smtp: tuple[SmtpInbox, int],
) -> None:
    await _sync(temporal_client, task_queue)
    intent, subscription_id, opening = await _paid_checkout(buyer, stripe_prices)
    # Stripe's order was created, invoice.paid, session completed: any order works.
    shuffled = random.Random(7).sample(opening, len(opening))
    assert [await _deliver(buyer, event) for event in shuffled] == ["accepted"] * 3
    assert [await _deliver(buyer, event) for event in opening] == ["duplicate"] * 3
    fulfilled = await _until(
        lambda: _intent(buyer, intent["id"]), lambda body: body["state"] == "fulfilled"
    )
    assert fulfilled["state"] == "fulfilled" and fulfilled["checkout_url"] is None
    (subscription,) = await _subscriptions(buyer)
    first_end = stripe_prices.subscriptions[subscription_id]["current_period_end"]
    assert subscription["status"] == "active" and subscription["is_active"]
    assert subscription["academy"]["name"] == "Academy 1"
    assert subscription["academy"]["product_id"] == "prod_1"
    assert datetime.fromisoformat(subscription["current_period_end"]) == _at(first_end)
    assert subscription["checkout_intent_id"] == intent["id"]

    # A month on: the renewal's events arrive the wrong way round.
    paid, updated = stripe_prices.renew(subscription_id)
    assert await _deliver(buyer, updated) == "accepted"
    assert await _deliver(buyer, paid) == "accepted"
    (renewed,) = await _subscriptions(buyer)
    assert datetime.fromisoformat(renewed["current_period_end"]) == _at(first_end + MONTH)

    # The next payment fails: past due (the academy stays open), a mail.
    failed, past_due = stripe_prices.fail_payment(subscription_id)
    assert await _deliver(buyer, failed) == "accepted"
    (late,) = await _subscriptions(buyer)
    assert (late["status"], late["is_active"]) == ("past_due", True)
    inbox = smtp[0]
    mail = await _until(
        lambda: asyncio.sleep(0, inbox.messages),
        lambda messages: any("abonnement" in str(m["Subject"]) for m in messages),
    )
    (notice,) = [m for m in mail if "abonnement" in str(m["Subject"])]
    sent = temporal_client.get_workflow_handle(f"subscription-notice:{failed['id']}")
    assert await sent.result() is True
    save_history("subscription_notice_sent", await sent.fetch_history())
    assert notice["To"] == "academy-buyer@example.org"
    assert "Academy 1" in notice.get_body(("plain",)).get_content()
    # The renewal's own update, delivered only now, is older: it undoes nothing.
    stale = dict(updated, id=f"evt_{uuid.uuid4().hex}")
    assert await _deliver(buyer, stale) == "accepted"
    assert (await _subscriptions(buyer))[0]["status"] == "past_due"
    assert await _deliver(buyer, past_due) == "accepted"

    # Stripe gives up: canceled, the academy closed.
    assert await _deliver(buyer, stripe_prices.delete(subscription_id)) == "accepted"
    (over,) = await _subscriptions(buyer)
    assert (over["status"], over["is_active"]) == ("canceled", False)
    assert over["canceled_at"] is not None

    async with sessionmaker() as session:
        entries = list(
            await session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.user_id == "academy-buyer")
                .order_by(LedgerEntry.at)
            )
        )
    # The checkout once (its session and first invoice tell of one payment), the renewal once.
    assert [entry.source for entry in entries] == [
        f"checkout:{intent['id']}",
        f"invoice:{paid['data']['object']['id']}",
    ]
    assert [entry.amount for entry in entries] == [Decimal("29.00"), Decimal("29.00")]
    assert len(inbox.messages) == 1  # the stale and duplicate events sent nothing more

    # Over: someone else's subscriptions are not theirs to see, and a new
    # checkout is allowed again.
    stranger = await client_for(sub="someone-else")
    assert await _subscriptions(stranger) == []
    again = await buyer.post("/api/v1/checkout-intents", json={"academy": "prod_1"})
    assert again.status_code == 201, again.text


async def test_cancel_at_period_end(
    temporal_client, task_queue: str, buyer: httpx.AsyncClient, client_for, stripe_prices
) -> None:
    await _sync(temporal_client, task_queue)
    intent, subscription_id, events = await _paid_checkout(buyer, stripe_prices)
    for event in events:
        await _deliver(buyer, event)
    await _until(lambda: _intent(buyer, intent["id"]), lambda body: body["state"] == "fulfilled")
    (subscription,) = await _subscriptions(buyer)
    # Subscribed: no second checkout for the same academy.
    taken = await buyer.post("/api/v1/checkout-intents", json={"academy": "prod_1"})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "already_subscribed"

    stranger = await client_for(sub="someone-else")
    hidden = await stranger.post(f"/api/v1/subscriptions/{subscription['id']}/cancel")
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "subscription_not_found"

    canceled = await buyer.post(f"/api/v1/subscriptions/{subscription['id']}/cancel")
    assert canceled.status_code == 200, canceled.text
    body = canceled.json()
    assert body["status"] == "active" and body["is_active"]  # until the period ends
    assert body["cancel_at"] == subscription["current_period_end"]
    assert stripe_prices.subscriptions[subscription_id]["cancel_at_period_end"] is True
    again = await buyer.post(f"/api/v1/subscriptions/{subscription['id']}/cancel")
    assert again.json()["cancel_at"] == body["cancel_at"]

    # Stripe's own word on it, then the end of the period.
    (updated,) = [e for e in stripe_prices.events if e["type"] == "customer.subscription.updated"]
    assert await _deliver(buyer, updated) == "accepted"
    await _deliver(buyer, stripe_prices.delete(subscription_id))
    over = await buyer.post(f"/api/v1/subscriptions/{subscription['id']}/cancel")
    assert over.status_code == 409
    assert over.json()["error"]["code"] == "subscription_not_active"


async def test_the_backfill_applies_events_no_webhook_brought(
    temporal_client, task_queue: str, buyer: httpx.AsyncClient, stripe_prices, smtp
) -> None:
    await _sync(temporal_client, task_queue)
    _, subscription_id, opening = await _paid_checkout(buyer, stripe_prices)
    # Only the session's event came; the invoice's and the renewal's were lost.
    (completed,) = [e for e in opening if e["type"] == "checkout.session.completed"]
    await _deliver(buyer, completed)
    stripe_prices.renew(subscription_id)
    failed, _ = stripe_prices.fail_payment(subscription_id)

    handle = await temporal_client.start_workflow(
        StripeEventsBackfillWorkflow.run,
        id=f"stripe-events-backfill-test-{uuid.uuid4()}",
        task_queue=task_queue,
    )
    result = await handle.result()
    save_history("stripe_events_backfill", await handle.fetch_history())
    # The seven events of the subscription so far, less the one stored already.
    assert (result.missing, result.applied, result.notices) == (6, 6, 1)
    (subscription,) = await _subscriptions(buyer)
    end = stripe_prices.subscriptions[subscription_id]["current_period_end"]
    assert subscription["status"] == "past_due"
    assert datetime.fromisoformat(subscription["current_period_end"]) == _at(end)
    assert await _deliver(buyer, failed) == "duplicate"  # its webhook, late: stored already

    again = await temporal_client.execute_workflow(
        StripeEventsBackfillWorkflow.run,
        id=f"stripe-events-backfill-test-{uuid.uuid4()}",
        task_queue=task_queue,
    )
    assert (again.missing, again.applied) == (0, 0)


async def test_the_backfill_fulfils_a_checkout_whose_webhooks_were_lost(
    temporal_client, task_queue: str, buyer: httpx.AsyncClient, stripe_prices
) -> None:
    await _sync(temporal_client, task_queue)
    intent, _, _ = await _paid_checkout(buyer, stripe_prices)
    result = await temporal_client.execute_workflow(
        StripeEventsBackfillWorkflow.run,
        id=f"stripe-events-backfill-test-{uuid.uuid4()}",
        task_queue=task_queue,
    )
    assert result.checkouts >= 1
    done = await _until(
        lambda: _intent(buyer, intent["id"]), lambda body: body["state"] == "fulfilled"
    )
    assert done["state"] == "fulfilled"
    (subscription,) = await _subscriptions(buyer)
    assert subscription["status"] == "active"


async def test_the_backfill_schedule_runs_only_with_stripe(settings, temporal_client) -> None:
    every = settings.model_copy(update={"stripe_events_backfill_interval": timedelta(minutes=20)})
    await ensure_backfill_schedule(temporal_client, every)
    await ensure_backfill_schedule(temporal_client, every)  # a second worker: no error
    handle = temporal_client.get_schedule_handle(BACKFILL_SCHEDULE_ID)
    try:
        described = await handle.describe()
        assert described.schedule.spec.intervals[0].every == timedelta(minutes=20)
        assert described.schedule.action.workflow == "StripeEventsBackfillWorkflow"
    finally:
        await handle.delete()
    dummy = settings.model_copy(update={"payment_backend": PaymentBackend.DUMMY})
    await ensure_backfill_schedule(temporal_client, dummy)
    with pytest.raises(RPCError):
        await handle.describe()  # its events come from our own pages: nothing to catch up
