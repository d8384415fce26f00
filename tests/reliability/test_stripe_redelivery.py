"""Stripe's webhooks delivered 3 times each, shuffled, some late (spec
60-quality): the order ends exactly as with one clean delivery.

Two orders run the same tunnel at Stripe (localstripe): 3 installments
debited, then each charge refunded from Stripe's side. Stripe's events
(localstripe's payment_intent.succeeded, kept by an inbox instead of reaching
us, and the charge.refunded Stripe would send) reach the API once each for
the first order, and three times each, shuffled, up to a second late, for
the second. Both orders' states, schedules, invoices and event trails must
be the same, and every event stored once."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from api.app import create_app
from models.inbound_events import InboundEvent
from models.orders import OrderEvent
from tests.api.test_installments import _paid_order, _until
from tests.api.test_payments_stripe import (  # noqa: F401 - fixtures
    API_KEY,
    WEBHOOK_ID,
    _customer_of,
    _post,
    _signed,
    _stripe_charges,
    refund_at_stripe,
    settings,
    webhook_secret,
)
from tests.conftest import token_for
from tests.factories import Factory
from tests.fakes import serve
from tests.fakes.webhook_inbox import Delivery, WebhookInbox
from workflows.order import workflow_id

COPIES = 3
LATEST = 1.0  # seconds


@pytest.fixture
async def inbox(localstripe: str) -> AsyncIterator[WebhookInbox]:
    """localstripe's webhook points here, not at the API."""
    kept = WebhookInbox(kept_headers=("stripe-signature",))
    async with serve(kept.app()) as url, httpx.AsyncClient() as client:
        registered = await client.post(
            f"{localstripe}/_config/webhooks/{WEBHOOK_ID}",
            data={"url": f"{url}/stripe", "secret": "whsec_inbox_only"},
        )
        registered.raise_for_status()
        yield kept


@pytest.fixture
async def live(settings, worker, sessionmaker) -> AsyncIterator[str]:  # noqa: F811
    async with serve(create_app(settings)) as url:
        yield url


def _resigned(delivery: Delivery, secret: str) -> tuple[bytes, str]:
    """The inbox's delivery as Stripe would sign it with our endpoint's secret."""
    return _signed(json.loads(delivery.body), secret)


async def _refund_all_at_stripe(localstripe: str, customer: str, secret: str) -> list[tuple]:
    events = []
    for charge in await _stripe_charges(localstripe, customer):
        _refund, event = await refund_at_stripe(localstripe, charge["id"])
        events.append(_signed(event, secret))
    return events


async def _tunnel(learner, factory, inbox, sessionmaker, localstripe, secret) -> list[tuple]:
    """An order paid in 3 installments at Stripe, then refunded there: the
    signed events Stripe sends about it."""
    already = len(inbox.deliveries)
    order = await _paid_order(learner, factory, "pm_card_visa")
    await _until(learner, order["id"], "completed")
    customer = await _customer_of(sessionmaker, order["id"])
    for _ in range(100):  # localstripe sends its events just after answering
        succeeded = [
            _resigned(item, secret)
            for item in inbox.deliveries[already:]
            if json.loads(item.body)["type"] == "payment_intent.succeeded"
            and json.loads(item.body)["data"]["object"].get("customer") == customer
        ]
        if len(succeeded) == 3:
            break
        await asyncio.sleep(0.1)
    assert len(succeeded) == 3, [json.loads(item.body)["type"] for item in inbox.deliveries]
    refunds = await _refund_all_at_stripe(localstripe, customer, secret)
    return [order["id"], succeeded + refunds]


def _learner(live: str, sub: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token_for(sub=sub, roles=[])}"}
    return httpx.AsyncClient(base_url=live, headers=headers, timeout=30)


async def _deliver(live: str, events: list[tuple], *, copies: int, seed: int) -> Counter:
    deliveries = [event for event in events for _ in range(copies)]
    shuffle = random.Random(seed)
    shuffle.shuffle(deliveries)
    delays = [shuffle.uniform(0, LATEST) if copies > 1 else 0.0 for _ in deliveries]

    async def one(event: tuple, delay: float) -> str:
        await asyncio.sleep(delay)
        answer = await _post(live, *event)
        assert answer.status_code == 200, answer.text
        return answer.json()["status"]

    return Counter(
        await asyncio.gather(*(one(*item) for item in zip(deliveries, delays, strict=True)))
    )


async def _end_state(learner, sessionmaker, order_id: str) -> dict:
    for _ in range(200):
        order = (await learner.get(f"/api/v1/orders/{order_id}")).json()
        if [item["state"] for item in order["payment_schedule"]] == ["refunded"] * 3:
            break
        await asyncio.sleep(0.1)
    invoices = (await learner.get(f"/api/v1/orders/{order_id}/invoices")).json()
    async with sessionmaker() as session:
        trail = Counter(
            await session.scalars(
                select(OrderEvent.type).where(OrderEvent.order_id == uuid.UUID(order_id))
            )
        )
    return {
        "state": order["state"],
        "schedule": [(item["amount"], item["state"]) for item in order["payment_schedule"]],
        "invoices": sorted((item["kind"], item["total"]) for item in invoices),
        "trail": trail,
    }


async def test_three_shuffled_late_deliveries_end_as_one_clean_delivery(
    live: str,
    inbox: WebhookInbox,
    factory: Factory,
    sessionmaker,
    localstripe: str,
    webhook_secret: str,  # noqa: F811
    temporal_client,
) -> None:
    # Two learners: each order its own Stripe customer, its own charges.
    clean_learner, noisy_learner = _learner(live, "once"), _learner(live, "thrice")
    async with clean_learner, noisy_learner:
        clean_id, clean_events = await _tunnel(
            clean_learner, factory, inbox, sessionmaker, localstripe, webhook_secret
        )
        noisy_id, noisy_events = await _tunnel(
            noisy_learner, factory, inbox, sessionmaker, localstripe, webhook_secret
        )
        once = await _deliver(live, clean_events, copies=1, seed=0)
        thrice = await _deliver(live, noisy_events, copies=COPIES, seed=11)
        clean = await _end_state(clean_learner, sessionmaker, clean_id)
        noisy = await _end_state(noisy_learner, sessionmaker, noisy_id)

    assert [item[1] for item in clean["schedule"]] == ["refunded"] * 3
    assert clean["trail"]["installment_refunded"] == 3
    assert noisy == clean
    events = len(noisy_events)
    assert once["duplicate"] == 0 and thrice["duplicate"] == events * (COPIES - 1)
    async with sessionmaker() as session:
        stored = await session.scalar(
            select(func.count()).select_from(InboundEvent).where(InboundEvent.source == "stripe")
        )
    assert len(clean_events) == events == 6  # 3 payments, 3 refunds
    assert stored == 2 * events

    # Refunds made at Stripe are mirrored per installment; the order keeps its state.
    handle = temporal_client.get_workflow_handle(workflow_id(noisy_id))
    assert await handle.result() == noisy["state"] == "completed"
