"""Orders paid through the stripe backend against localstripe, whose signed
webhooks reach our API over real HTTP; and the webhook route's defences."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from api.app import create_app
from models.inbound_events import InboundEvent
from models.orders import OrderEvent
from settings import PaymentBackend
from tests.api.test_installments import _paid_order, _until
from tests.api.test_orders import _offering
from tests.api.tunnel import ADDRESS
from tests.conftest import token_for
from tests.factories import Factory
from tests.fakes import serve
from tests.integrations.test_stripe import THREE_D_SECURE, _card, _stripe_js_confirms
from tests.workflows.histories import save_history
from workflows import refund
from workflows.order import workflow_id

API_KEY = "sk_test_guichet"
WEBHOOK_ID = "guichet-tests"  # one per localstripe: each test points it at its own API


@pytest.fixture
def webhook_secret() -> str:
    return f"whsec_{uuid.uuid4().hex}"


@pytest.fixture
def settings(settings, temporal_env, localstripe: str, webhook_secret: str):
    return settings.model_copy(
        update={
            "temporal_address": temporal_env.client.service_client.config.target_host,
            "payment_backend": PaymentBackend.STRIPE,
            "stripe_api_key": SecretStr(API_KEY),
            "stripe_api_base": localstripe,
            "stripe_webhook_secret": SecretStr(webhook_secret),
        }
    )


@pytest.fixture
async def live(
    settings, listening: socket.socket, worker, sessionmaker, localstripe: str, webhook_secret: str
) -> AsyncIterator[str]:
    async with serve(create_app(settings), listening) as url:
        async with httpx.AsyncClient() as client:
            registered = await client.post(
                f"{localstripe}/_config/webhooks/{WEBHOOK_ID}",
                data={"url": f"{url}/api/v1/webhooks/stripe", "secret": webhook_secret},
            )
            registered.raise_for_status()
        yield url


async def _client(live: str, sub: str, roles: list[str]) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token_for(sub=sub, roles=roles)}"}
    return httpx.AsyncClient(base_url=live, headers=headers, timeout=30)


@pytest.fixture
async def learner(live: str) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(live, "stripe-learner", []) as client:
        yield client


@pytest.fixture
async def admin(live: str) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(live, "stripe-admin", ["admin"]) as client:
        yield client


async def _stripe_charges(localstripe: str, customer: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=localstripe, auth=(API_KEY, "")) as client:
        answer = await client.get("/v1/charges", params={"customer": customer, "limit": 100})
    return [item for item in answer.json()["data"] if item["status"] == "succeeded"]


async def refund_at_stripe(localstripe: str, charge_id: str) -> tuple[dict, dict]:
    """A refund made at Stripe (its dashboard, say), and the charge.refunded
    event Stripe would send about it (localstripe sends no charge.* events)."""
    async with httpx.AsyncClient(base_url=localstripe, auth=(API_KEY, "")) as client:
        made = await client.post("/v1/refunds", data={"charge": charge_id})
        made.raise_for_status()
        refunded = (await client.get(f"/v1/charges/{charge_id}")).json()
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "charge.refunded",
        "data": {"object": refunded},
    }
    return made.json(), event


async def _stored_events(sessionmaker, kind: str, about: set[str]) -> list[dict]:
    """The Stripe events of `kind` stored about these objects, once there is
    one for each (other tests' events share the database)."""
    for _ in range(300):
        async with sessionmaker() as session:
            rows = [
                row.payload
                for row in await session.scalars(
                    select(InboundEvent).where(InboundEvent.source == "stripe")
                )
                if row.payload["type"] == kind and row.payload["data"]["object"]["id"] in about
            ]
        if {row["data"]["object"]["id"] for row in rows} == about:
            return rows
        await asyncio.sleep(0.1)
    pytest.fail(f"{kind} events expected about {sorted(about)}, {len(rows)} stored")


async def _customer_of(sessionmaker, order_id: str) -> str:
    from models.orders import PaymentMethod

    async with sessionmaker() as session:
        method = await session.get(PaymentMethod, uuid.UUID(order_id))
        assert method is not None and method.customer_reference is not None
        return method.customer_reference


async def test_three_installments_charged_once_each_at_stripe(
    learner: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    factory: Factory,
    sessionmaker,
    localstripe,
) -> None:
    order = await _paid_order(learner, factory, "pm_card_visa")
    assert order["payment_method"]["last4"] == "4242"
    done = await _until(learner, order["id"], "completed")
    customer = await _customer_of(sessionmaker, order["id"])
    charges = await _stripe_charges(localstripe, customer)
    assert sorted(charge["amount"] for charge in charges) == [13500, 15750, 15750]
    intents = {charge["payment_intent"] for charge in charges}
    invoices = (await learner.get(f"/api/v1/orders/{order['id']}/invoices")).json()
    assert {item["transactions"][0]["reference"] for item in invoices[1:]} == intents
    # Stripe's own word on each charge came back, signed, and was stored once.
    succeeded = await _stored_events(sessionmaker, "payment_intent.succeeded", intents)
    assert sorted(event["data"]["object"]["id"] for event in succeeded) == sorted(intents)

    refunded = (await admin.post(f"/api/v1/admin/orders/{order['id']}/refund")).json()
    assert refunded["state"] == "refunded"
    assert [item["state"] for item in done["payment_schedule"]] == ["paid"] * 3
    after = await _stripe_charges(localstripe, customer)
    assert all(charge["refunded"] for charge in after)
    invoices = (await learner.get(f"/api/v1/orders/{order['id']}/invoices")).json()
    notes = [item for item in invoices if item["kind"] == "credit_note"]
    assert sorted(note["total"] for note in notes) == ["-135.00", "-157.50", "-157.50"]


async def test_a_refund_made_at_stripe_is_mirrored(
    learner: httpx.AsyncClient,
    factory: Factory,
    sessionmaker,
    localstripe,
    live: str,
    webhook_secret: str,
    temporal_client,
) -> None:
    """Refunded from Stripe's dashboard: the charge.refunded webhook starts a
    workflow that records the refund and its credit note, once.
    localstripe sends no charge.* events, so the test delivers the one Stripe
    would, built from localstripe's refunded charge and signed like Stripe."""
    order = await _paid_order(learner, factory, "pm_card_visa")
    paid = await _until(learner, order["id"], "pending_payment", seconds=10)
    assert paid["payment_schedule"][0]["state"] == "paid"
    (charge,) = await _stripe_charges(localstripe, await _customer_of(sessionmaker, order["id"]))
    made, event = await refund_at_stripe(localstripe, charge["id"])
    refund_id = made["id"]
    for _ in range(2):  # delivered twice: recorded once
        answer = await _post(live, *_signed(event, webhook_secret))
        assert answer.status_code == 200
    for _ in range(100):
        current = (await learner.get(f"/api/v1/orders/{order['id']}")).json()
        if current["payment_schedule"][0]["state"] == "refunded":
            break
        await asyncio.sleep(0.1)
    assert current["payment_schedule"][0]["state"] == "refunded"
    invoices = (await learner.get(f"/api/v1/orders/{order['id']}/invoices")).json()
    (note,) = [item for item in invoices if item["kind"] == "credit_note"]
    assert note["total"] == "-135.00"
    assert note["transactions"][0]["reference"] == refund_id
    async with sessionmaker() as session:
        trail = list(await session.scalars(select(OrderEvent.type)))
    assert trail.count("installment_refunded") == 1
    # Ends the workflow for its history, unless its last installments were
    # paid meanwhile (a slow machine): either end is fine here.
    await learner.post(f"/api/v1/orders/{order['id']}/cancel")
    handle = temporal_client.get_workflow_handle(workflow_id(order["id"]))
    assert await handle.result() in {"canceled", "completed"}
    recorded = temporal_client.get_workflow_handle(refund.provider_refund_workflow_id(refund_id))
    await recorded.result()
    save_history("provider_refund_at_stripe", await recorded.fetch_history())


# --- the route's defences ---------------------------------------------------------------


def _signature(body: bytes, secret: str, *, at: int | None = None) -> str:
    """A Stripe-Signature header, made the way Stripe makes it."""
    timestamp = at if at is not None else int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def _signed(payload: dict, secret: str, *, at: int | None = None) -> tuple[bytes, str]:
    body = json.dumps(payload).encode()
    return body, _signature(body, secret, at=at)


def _event(kind: str = "payment_intent.succeeded", intent: str = "pi_unknown") -> dict:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": kind,
        "data": {"object": {"id": intent, "object": "payment_intent"}},
    }


async def _post(live: str, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    async with httpx.AsyncClient(base_url=live) as client:
        return await client.post("/api/v1/webhooks/stripe", content=body, headers=headers)


async def _stored(sessionmaker, *events: dict) -> int:
    """How many of these events are stored (localstripe may still be
    delivering an earlier test's events to this API)."""
    ids = [event["id"] for event in events]
    async with sessionmaker() as session:
        return len(
            list(await session.scalars(select(InboundEvent).where(InboundEvent.event_id.in_(ids))))
        )


async def test_forged_stale_and_unreadable_events_change_nothing(
    live: str, webhook_secret: str, sessionmaker
) -> None:
    event = _event()
    body, _ = _signed(event, webhook_secret)
    _, forged = _signed(event, "whsec_someone_else")
    stale_body, stale = _signed(event, webhook_secret, at=int(time.time()) - 600)
    for content, signature in [(body, forged), (body, None), (stale_body, stale)]:
        refused = await _post(live, content, signature)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "invalid_signature"
    garbled = await _post(live, b"not json", _signature(b"not json", webhook_secret))
    assert garbled.status_code == 400
    assert garbled.json()["error"]["code"] == "malformed_notification"
    assert await _stored(sessionmaker, event) == 0


@pytest.mark.parametrize(
    "shape",
    [
        "no data",
        "object without id",
        "list for object",
        "id of 300 characters",
        "id with NUL",
        "NaN",
    ],
)
async def test_signed_but_malformed_events_are_a_400(
    live: str, webhook_secret: str, sessionmaker, shape: str
) -> None:
    """Signed is not well formed: each of these was a 500 on PostgreSQL."""
    event = _event()
    if shape == "no data":
        del event["data"]
    elif shape == "object without id":
        del event["data"]["object"]["id"]
    elif shape == "list for object":
        event["data"]["object"] = [event["data"]["object"]]
    elif shape == "id of 300 characters":
        event["id"] = "evt_" + "x" * 296
    elif shape == "id with NUL":
        event["id"] = "evt_a\x00b"
    else:
        event["data"]["object"]["amount"] = float("nan")
    body, signature = _signed(event, webhook_secret)
    answer = await _post(live, body, signature)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "malformed_notification"
    if not shape.startswith("id "):  # an id PostgreSQL cannot even be asked about
        assert await _stored(sessionmaker, event) == 0


async def test_each_event_is_stored_once_whatever_its_type(
    live: str, webhook_secret: str, sessionmaker
) -> None:
    charge, unknown = _event(), _event(kind="customer.created")
    body, signature = _signed(charge, webhook_secret)
    # About a charge that is not ours: stored, nothing else.
    assert (await _post(live, body, signature)).json() == {"status": "ignored"}
    assert (await _post(live, body, signature)).json() == {"status": "duplicate"}
    other, other_signature = _signed(unknown, webhook_secret)
    assert (await _post(live, other, other_signature)).json() == {"status": "ignored"}
    assert await _stored(sessionmaker, charge, unknown) == 2
    async with sessionmaker() as session:
        assert list(await session.scalars(select(OrderEvent))) == []


async def test_stripe_webhooks_are_off_without_a_secret(settings, sessionmaker) -> None:
    off = create_app(settings.model_copy(update={"stripe_webhook_secret": SecretStr("")}))
    async with (
        off.router.lifespan_context(off),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=off), base_url="http://test") as client,
    ):
        answer = await client.post("/api/v1/webhooks/stripe", content=b"{}")
        other = await client.post("/api/v1/webhooks/payments/dummy", content=b"{}")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "payment_webhooks_disabled"
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "unknown_payment_backend"


async def test_news_temporal_cannot_take_is_not_kept(
    settings, live: str, webhook_secret: str, sessionmaker
) -> None:
    """Temporal unreachable: 503 and nothing stored, so the redelivery is
    handled as new (not dropped as a duplicate of news never passed on)."""
    event = _event(kind="checkout.session.completed")
    event["data"]["object"] = {
        "id": "cs_test_unreachable",
        "object": "checkout.session",
        "client_reference_id": str(uuid.uuid4()),
    }
    body, signature = _signed(event, webhook_secret)
    down = create_app(settings.model_copy(update={"temporal_address": "127.0.0.1:1"}))
    async with (
        down.router.lifespan_context(down),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=down), base_url="http://t") as client,
    ):
        refused = await client.post(
            "/api/v1/webhooks/stripe",
            content=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "temporal_unavailable"
    assert await _stored(sessionmaker, event) == 0
    # Redelivered once Temporal answers: no such intent is running, so it is
    # kept and ignored.
    assert (await _post(live, body, signature)).json() == {"status": "ignored"}
    assert await _stored(sessionmaker, event) == 1


async def test_a_card_set_up_with_3d_secure_is_saved_by_stripes_webhook(
    learner: httpx.AsyncClient,
    factory: Factory,
    localstripe: str,
    live: str,
    webhook_secret: str,
) -> None:
    """A SetupIntent at Stripe, confirmed by Stripe.js with a card the bank
    challenges: 409 until the learner authenticates; then the learner closes
    the tab and setup_intent.succeeded saves the card. localstripe sends no
    setup_intent events: the test delivers Stripe's, built from localstripe's
    SetupIntent and signed like Stripe."""
    offering = await _offering(factory)
    body = {"offering_id": str(offering.id), "billing_address": ADDRESS}
    order = (await learner.post("/api/v1/orders", json=body)).json()
    setup = await learner.post(f"/api/v1/orders/{order['id']}/payment-method/setup", json={})
    assert setup.status_code == 201, setup.text
    reference = setup.json()["setup_reference"]
    assert reference.startswith("seti_") and setup.json()["provider"] == "stripe"
    method = await _card(localstripe, THREE_D_SECURE)
    await _stripe_js_confirms(localstripe, reference, method)
    early = await learner.post(
        f"/api/v1/orders/{order['id']}/payment-method", json={"setup_reference": reference}
    )
    assert (early.status_code, early.json()["error"]["code"]) == (
        409,
        "payment_method_requires_authentication",
    )
    assert early.json()["error"]["details"]["client_secret"] == setup.json()["client_secret"]
    succeeded = await _stripe_js_confirms(localstripe, reference, None)  # authenticated
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "setup_intent.succeeded",
        "data": {"object": succeeded},
    }
    delivered = await _post(live, *_signed(event, webhook_secret))
    assert delivered.json() == {"status": "accepted"}, delivered.text
    pending = await _until(learner, order["id"], "pending", seconds=20)
    assert pending["payment_method"]["last4"] == THREE_D_SECURE[-4:]
