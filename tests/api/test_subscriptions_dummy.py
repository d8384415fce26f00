"""The embedded stack subscribes to an academy without a provider: the
dummy backend's checkout page (Pay / Cancel) tells Guichet what Stripe
would, through the webhooks' own receiver (spec 40, "Checkout end to end")."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from models.accounting import LedgerEntry
from tests.api.test_promo_codes import app  # noqa: F401 - the API with a worker
from workflows.academy import CatalogSyncWorkflow


@pytest.fixture
def settings(settings, temporal_env):
    return settings.model_copy(
        update={
            "temporal_address": temporal_env.client.service_client.config.target_host,
            "public_url": "http://guichet.test",
            "frontend_url": "https://learn.example.org",
        }
    )


@pytest.fixture
async def learner(client_for) -> httpx.AsyncClient:
    return await client_for(sub="dummy-buyer")


async def _demo_catalogue(temporal_client, task_queue: str) -> None:
    await temporal_client.execute_workflow(
        CatalogSyncWorkflow.run, id=f"catalog-sync-test-{uuid.uuid4()}", task_queue=task_queue
    )


def _page(checkout_url: str) -> str:
    """The page's path and key, asked of the app in process."""
    parts = urlsplit(checkout_url)
    return f"{parts.path}?{parts.query}"


async def test_an_academy_bought_on_the_dummy_checkout_page(
    temporal_client, task_queue: str, learner: httpx.AsyncClient, sessionmaker
) -> None:
    await _demo_catalogue(temporal_client, task_queue)
    created = await learner.post("/api/v1/checkout-intents", json={"academy": "ai-academy"})
    assert created.status_code == 201, created.text
    intent = created.json()
    url = intent["checkout_url"]
    assert url.startswith(f"http://guichet.test/api/v1/dummy-payments/checkout/{intent['id']}?key=")

    page = await learner.get(_page(url))
    assert page.status_code == 200
    assert "Subscribe to Artificial Intelligence Academy" in page.text
    assert "29.00 EUR per month" in page.text
    forged = await learner.get(f"/api/v1/dummy-payments/checkout/{intent['id']}?key=nope")
    assert forged.status_code == 404
    key = urlsplit(url).query.removeprefix("key=")
    action = f"/api/v1/dummy-payments/checkout/{intent['id']}"

    left = await learner.post(action, data={"key": key, "action": "cancel"})
    assert "nothing was charged" in left.text
    assert f"https://learn.example.org/academies/checkout/{intent['id']}/canceled" in left.text
    assert (await learner.get("/api/v1/subscriptions")).json()["results"] == []

    paid = await learner.post(action, data={"key": key, "action": "pay"})
    assert paid.status_code == 200, paid.text
    assert "Paid: your subscription is active." in paid.text
    assert f"https://learn.example.org/academies/checkout/{intent['id']}/success" in paid.text
    (subscription,) = (await learner.get("/api/v1/subscriptions")).json()["results"]
    assert (subscription["status"], subscription["is_active"]) == ("active", True)
    assert subscription["academy"]["name"] == "AI Academy"
    period_end = datetime.fromisoformat(subscription["current_period_end"])
    assert timedelta(days=27) < period_end - datetime.now(UTC) < timedelta(days=32)

    async def state() -> str:
        return (await learner.get(f"/api/v1/checkout-intents/{intent['id']}")).json()["state"]

    for _ in range(300):
        if await state() == "fulfilled":
            break
        await asyncio.sleep(0.1)
    assert await state() == "fulfilled"
    again = await learner.post(action, data={"key": key, "action": "pay"})
    assert "Nothing to pay" in again.text
    async with sessionmaker() as session:
        (cashed,) = list(
            await session.scalars(select(LedgerEntry).where(LedgerEntry.user_id == "dummy-buyer"))
        )
    assert (cashed.source, str(cashed.amount)) == (f"checkout:{intent['id']}", "29.00")

    canceled = await learner.post(f"/api/v1/subscriptions/{subscription['id']}/cancel")
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["cancel_at"] == subscription["current_period_end"]
    assert canceled.json()["is_active"] is True
