"""Signature webhooks that must change nothing (spec 60-quality): a forged
signature, an unknown event type, an event about no procedure of ours, and
the replay of an event already received. (Stripe's forged, stale and
unknown events: tests/api/test_payments_stripe.py.)"""

from __future__ import annotations

import json

import httpx
from sqlalchemy import func, select

from integrations.signature.dummy import SIGNATURE_HEADER, sign_body
from models.inbound_events import InboundEvent
from models.orders import OrderEvent

ROUTE = "/api/v1/webhooks/signature/dummy"


def _notification(event: str, event_id: str = "evt-1", reference: str = "ref-unknown") -> bytes:
    return json.dumps(
        {"event_id": event_id, "reference": reference, "event": event, "recipient": "student"}
    ).encode()


async def _post(client: httpx.AsyncClient, body: bytes, secret: str) -> httpx.Response:
    return await client.post(
        ROUTE, content=body, headers={SIGNATURE_HEADER: sign_body(secret, body)}
    )


async def _stored(sessionmaker) -> tuple[int, int]:
    async with sessionmaker() as session:
        events = await session.scalar(select(func.count()).select_from(InboundEvent))
        trail = await session.scalar(select(func.count()).select_from(OrderEvent))
    return events, trail


async def test_forged_unknown_and_replayed_notifications_change_nothing(
    anonymous: httpx.AsyncClient, settings, sessionmaker
) -> None:
    secret = settings.dummy_signature_secret_value
    forged = await _post(anonymous, _notification("recipient_finished"), "not-our-secret")
    assert forged.status_code == 401
    unknown_type = await _post(anonymous, _notification("recipient_teleported"), secret)
    assert unknown_type.status_code == 400
    assert unknown_type.json()["error"]["code"] == "malformed_notification"
    assert await _stored(sessionmaker) == (0, 0)

    about_nothing = _notification("recipient_finished", event_id="evt-2")
    assert (await _post(anonymous, about_nothing, secret)).json() == {"status": "ignored"}
    replayed = await _post(anonymous, about_nothing, secret)
    assert replayed.json() == {"status": "duplicate"}
    assert await _stored(sessionmaker) == (1, 0)
