"""One webhook route for every payment backend: the dummy backend's signed
events reach the order on the embedded stack as Stripe's do."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from integrations.payloads import SIGNATURE_HEADER, sign_body
from models.orders import Installment
from settings import Settings
from tests.api.test_installments import _paid_order, _until
from tests.api.test_orders import app  # noqa: F401 - the API with a worker
from tests.conftest import TEST_JWT_SECRET
from tests.factories import Factory

SECRET = Settings(jwt_secret=SecretStr(TEST_JWT_SECRET)).dummy_payment_secret_value
ROUTE = "/api/v1/webhooks/payments/dummy"


@pytest.fixture
def settings(settings):
    # Only the webhook can confirm a charge within the test.
    return settings.model_copy(update={"pending_charge_poll": timedelta(hours=1)})


def _signed(event: dict, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    return body, {SIGNATURE_HEADER: sign_body(secret, body), "content-type": "application/json"}


async def _deliver(client: httpx.AsyncClient, event: dict, secret: str = SECRET) -> httpx.Response:
    body, headers = _signed(event, secret)
    return await client.post(ROUTE, content=body, headers=headers)


async def test_a_forged_or_unreadable_event_is_refused(anonymous: httpx.AsyncClient) -> None:
    event = {"event_id": "evt_1", "type": "charge_succeeded", "kind": "charge_succeeded"}
    forged = await _deliver(anonymous, event, secret="not-the-secret")
    assert (forged.status_code, forged.json()["error"]["code"]) == (401, "invalid_signature")
    body, headers = _signed({"event_id": "evt_2"})  # no type
    unreadable = await anonymous.post(ROUTE, content=body, headers=headers)
    assert (unreadable.status_code, unreadable.json()["error"]["code"]) == (
        400,
        "malformed_notification",
    )
    other = await anonymous.post("/api/v1/webhooks/payments/stripe", content=b"{}")
    assert (other.status_code, other.json()["error"]["code"]) == (404, "unknown_payment_backend")


async def test_an_event_about_nothing_tracked_is_stored_once(anonymous: httpx.AsyncClient) -> None:
    event = {"event_id": f"evt_{uuid.uuid4().hex}", "type": "charge_succeeded"}
    event |= {"kind": "charge_succeeded", "charge_reference": "dummy_pi_nobody"}
    assert (await _deliver(anonymous, event)).json() == {"status": "ignored"}
    assert (await _deliver(anonymous, event)).json() == {"status": "duplicate"}


async def test_a_charge_confirmed_later_is_paid_when_its_webhook_comes(
    learner: httpx.AsyncClient, anonymous: httpx.AsyncClient, factory: Factory, sessionmaker
) -> None:
    """The provider said "processing"; the poll is an hour away: the signed
    event is what pays the installment."""
    order = await _paid_order(learner, factory, "pm_card_asyncConfirmation")
    first = uuid.UUID(order["payment_schedule"][0]["id"])
    reference = None
    for _ in range(200):
        async with sessionmaker() as session:
            reference = await session.scalar(
                select(Installment.charge_reference).where(Installment.id == first)
            )
        if reference:
            break
        await asyncio.sleep(0.05)
    assert reference
    event = {"event_id": f"evt_{uuid.uuid4().hex}", "type": "charge_succeeded"}
    event |= {"kind": "charge_succeeded", "charge_reference": reference}
    assert (await _deliver(anonymous, event)).json() == {"status": "accepted"}
    paid = await _until(learner, order["id"], "pending_payment", seconds=20)
    assert paid["payment_schedule"][0]["state"] == "paid"
