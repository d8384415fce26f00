"""Contract signature with the dummy provider, end to end over real HTTP: the
API on a loopback port (the provider's sign page and webhooks go through it),
the order and signature workflows on the Temporal dev server."""

from __future__ import annotations

import asyncio
import random
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from api.app import create_app
from domain.signatures import Notification, NotificationEvent, Recipient
from integrations.signature.dummy import SIGNATURE_HEADER, sign_body, signer_key
from models.inbound_events import InboundEvent
from tests.api.tunnel import (
    ADDRESS,
    CARD,
    DUMMY_SECRET,
    contract_of,
    contract_order,
    sign,
    state_is,
    submit,
)
from tests.conftest import token_for
from tests.factories import Factory
from tests.fakes import serve
from tests.workflows.histories import save_history
from workflows import refund, signature
from workflows.order import workflow_id as order_workflow_id


@pytest.fixture
def settings(settings, port: int, temporal_env, request: pytest.FixtureRequest):
    marker = request.node.get_closest_marker("signature_settings")
    return settings.model_copy(
        update={
            "public_url": f"http://127.0.0.1:{port}",
            "temporal_address": temporal_env.client.service_client.config.target_host,
            "signature_poll_interval": timedelta(seconds=1),
            "signature_poll_max_interval": timedelta(seconds=2),
            "dummy_signature_webhook_delay": 0.1,
        }
        | (marker.kwargs if marker else {})
    )


@pytest.fixture
async def live(settings, listening: socket.socket, worker, sessionmaker) -> AsyncIterator[str]:
    async with serve(create_app(settings), listening) as url:
        yield url


@pytest.fixture
async def learner(live: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {token_for(sub='signer-1', roles=[])}"}
    async with httpx.AsyncClient(base_url=live, headers=headers, timeout=30) as client:
        yield client


async def test_sign_then_save_card_reaches_pending(
    learner: httpx.AsyncClient, factory: Factory, temporal_client
) -> None:
    order = await contract_order(learner, factory)
    assert order["state"] == "to_sign_and_to_save_payment_method"
    link = await submit(learner, order["id"])
    assert "/api/v1/dummy-signature/" in link
    submitted = (await learner.get(f"/api/v1/orders/{order['id']}")).json()
    assert submitted["state"] == "signing"
    assert submitted["contract"]["submitted_for_signature_on"] is not None
    # Asking again re-asks the link of the same procedure.
    assert await submit(learner, order["id"]) == link

    await sign(link, Recipient.STUDENT)
    await state_is(learner, order["id"], "to_save_payment_method")
    pending = (await learner.post(f"/api/v1/orders/{order['id']}/payment-method", json=CARD)).json()
    assert pending["state"] == "pending"
    assert len(pending["payment_schedule"]) == 3

    await sign(link, Recipient.ORGANIZATION)
    contract_id = pending["contract"]["id"]
    handle = temporal_client.get_workflow_handle(signature.workflow_id(contract_id))
    assert await asyncio.wait_for(handle.result(), 20) == "signed"
    state = await learner.get(f"/api/v1/contracts/{contract_id}/signature-state")
    assert state.json() == {"student": True, "organization": True}
    contract = (await learner.get(f"/api/v1/contracts/{contract_id}")).json()
    assert len(contract["document_checksum"]) == 64
    assert contract["definition_title"].startswith("Contrat - ")
    assert contract["context"]["organization"]["title"] == "Organization"
    assert sum(float(item["amount"]) for item in contract["context"]["schedule"]) == 450.0
    assert contract["organization_signatory"] == {
        "name": "Claire Martin",
        "email": "claire@univ.example",
    }
    save_history("signature_watched_signed", await handle.fetch_history())
    order_handle = temporal_client.get_workflow_handle(order_workflow_id(order["id"]))
    save_history("order_signed_then_card", await order_handle.fetch_history())


async def test_save_card_then_sign_reaches_pending(
    learner: httpx.AsyncClient, factory: Factory
) -> None:
    order = await contract_order(learner, factory)
    saved = await learner.post(f"/api/v1/orders/{order['id']}/payment-method", json=CARD)
    assert saved.json()["state"] == "to_sign"
    link = await submit(learner, order["id"])
    await sign(link, Recipient.STUDENT)
    await state_is(learner, order["id"], "pending")
    again = await learner.post(f"/api/v1/orders/{order['id']}/submit-for-signature")
    assert again.status_code == 409
    assert again.json()["error"] == {
        "code": "order_not_signable",
        "message": "This order's contract is signed already.",
        "details": None,
    }


async def test_free_contract_order_completes_when_signed(
    learner: httpx.AsyncClient, factory: Factory
) -> None:
    order = await contract_order(learner, factory, price="0.00")
    assert order["state"] == "to_sign"
    await sign(await submit(learner, order["id"]), Recipient.STUDENT)
    await state_is(learner, order["id"], "completed")


@pytest.mark.signature_settings(dummy_signature_webhook_drop_rate=1.0)
async def test_every_webhook_dropped_polling_still_sees_it(
    learner: httpx.AsyncClient, factory: Factory
) -> None:
    order = await contract_order(learner, factory)
    await sign(await submit(learner, order["id"]), Recipient.STUDENT)
    await state_is(learner, order["id"], "to_save_payment_method")


@pytest.mark.signature_settings(
    dummy_signature_webhook_drop_rate=1.0,
    signature_poll_interval=timedelta(hours=1),
    signature_poll_max_interval=timedelta(hours=1),
)
async def test_signature_state_asks_the_provider_now(
    learner: httpx.AsyncClient, factory: Factory
) -> None:
    order = await contract_order(learner, factory)
    await sign(await submit(learner, order["id"]), Recipient.STUDENT)
    contract_id = (await contract_of(learner, order["id"]))["id"]
    # No webhook, no poll for an hour: the refresh sees the signature at once.
    state = await learner.get(f"/api/v1/contracts/{contract_id}/signature-state")
    assert state.json() == {"student": True, "organization": False}
    await state_is(learner, order["id"], "to_save_payment_method")


@pytest.mark.signature_settings(
    dummy_signature_webhook_drop_rate=1.0,
    signature_poll_interval=timedelta(hours=1),
    signature_poll_max_interval=timedelta(hours=1),
)
async def test_webhooks_three_times_shuffled_and_late_end_the_same(
    learner: httpx.AsyncClient,
    factory: Factory,
    live: str,
    settings,
    sessionmaker,
    temporal_client,
) -> None:
    order = await contract_order(learner, factory)
    link = await submit(learner, order["id"])
    contract = await contract_of(learner, order["id"])
    reference = link.rsplit("/", 1)[1].split("?")[0]
    await sign(link, Recipient.STUDENT)
    await sign(link, Recipient.ORGANIZATION)
    notifications = [
        Notification(
            event_id=f"evt-{recipient.value}",
            reference=reference,
            event=NotificationEvent.RECIPIENT_FINISHED,
            recipient=recipient,
        )
        for recipient in (Recipient.ORGANIZATION, Recipient.STUDENT)
    ]
    deliveries = [item for item in notifications for _ in range(3)]
    random.Random(7).shuffle(deliveries)
    secret = settings.dummy_signature_secret_value

    async def deliver(notification: Notification, delay: float) -> str:
        await asyncio.sleep(delay)
        body = notification.model_dump_json().encode()
        async with httpx.AsyncClient(base_url=live) as provider:
            response = await provider.post(
                "/api/v1/webhooks/signature/dummy",
                content=body,
                headers={SIGNATURE_HEADER: sign_body(secret, body)},
            )
        assert response.status_code == 200
        return response.json()["status"]

    statuses = await asyncio.gather(
        *(deliver(item, 0.3 * (index % 3)) for index, item in enumerate(deliveries))
    )
    assert sorted(statuses) == ["accepted", "accepted"] + ["duplicate"] * 4
    handle = temporal_client.get_workflow_handle(signature.workflow_id(contract["id"]))
    assert await asyncio.wait_for(handle.result(), 20) == "signed"
    await state_is(learner, order["id"], "to_save_payment_method")
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(InboundEvent)) == 2


async def test_forged_or_unreadable_webhooks_are_refused(live: str) -> None:
    body = b'{"event_id": "x", "reference": "r", "event": "recipient_finished"}'
    async with httpx.AsyncClient(base_url=live) as provider:
        forged = await provider.post(
            "/api/v1/webhooks/signature/dummy",
            content=body,
            headers={SIGNATURE_HEADER: sign_body("not-the-secret", body)},
        )
        assert forged.status_code == 401
        other_backend = await provider.post("/api/v1/webhooks/signature/lex_persona", content=body)
        assert other_backend.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        b'{"event_id": "' + b"x" * 300 + b'", "reference": "r", "event": "recipient_finished"}',
        b'{"event_id": "a\\u0000b", "reference": "r", "event": "recipient_finished"}',
        b'{"event_id": "x", "reference": "r", "event": "recipient_finished", "n": NaN}',
        b'{"event_id": "x", "reference": ["r"], "event": "recipient_finished"}',
    ],
    ids=["id-300", "id-nul", "nan", "list-reference"],
)
async def test_signed_but_malformed_notifications_are_a_400(
    live: str, settings, body: bytes
) -> None:
    """Signed is not well formed: each was a 500 on PostgreSQL."""
    async with httpx.AsyncClient(base_url=live) as provider:
        answer = await provider.post(
            "/api/v1/webhooks/signature/dummy",
            content=body,
            headers={SIGNATURE_HEADER: sign_body(settings.dummy_signature_secret_value, body)},
        )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "malformed_notification"


async def test_refusal_resets_thecontract_of(learner: httpx.AsyncClient, factory: Factory) -> None:
    order = await contract_order(learner, factory)
    first = await submit(learner, order["id"])
    await sign(first, Recipient.STUDENT, action="refuse")
    await state_is(learner, order["id"], "to_sign_and_to_save_payment_method")
    contract = await contract_of(learner, order["id"])
    assert contract["submitted_for_signature_on"] is None
    second = await submit(learner, order["id"])
    assert second != first
    await sign(second, Recipient.STUDENT)
    await state_is(learner, order["id"], "to_save_payment_method")


@pytest.mark.signature_settings(signature_validity_days=3 / 86400)
async def test_expired_procedure_resets_thecontract_of(
    learner: httpx.AsyncClient, factory: Factory, temporal_client
) -> None:
    order = await contract_order(learner, factory)
    await submit(learner, order["id"])
    contract_id = (await contract_of(learner, order["id"]))["id"]
    handle = temporal_client.get_workflow_handle(signature.workflow_id(contract_id))
    assert await asyncio.wait_for(handle.result(), 20) == "expired"
    await state_is(learner, order["id"], "to_sign_and_to_save_payment_method")
    save_history("signature_watched_expired", await handle.fetch_history())


async def test_cancel_while_signing_aborts_the_procedure(
    learner: httpx.AsyncClient, factory: Factory, temporal_client
) -> None:
    order = await contract_order(learner, factory)
    link = await submit(learner, order["id"])
    contract_id = (await contract_of(learner, order["id"]))["id"]
    canceled = await learner.post(f"/api/v1/orders/{order['id']}/cancel")
    assert canceled.json()["state"] == "canceled"
    handle = temporal_client.get_workflow_handle(signature.workflow_id(contract_id))
    assert await asyncio.wait_for(handle.result(), 20) == "canceled"
    async with httpx.AsyncClient() as browser:
        page = await browser.get(link)
    assert "This procedure is closed." in page.text


async def test_refund_closes_the_contracts_signature(
    learner: httpx.AsyncClient, admin: httpx.AsyncClient, factory: Factory, temporal_client
) -> None:
    """The learner signed and paid, the organization has not signed yet: a
    refund closes the procedure, the organization can no longer sign."""
    org = await factory.organization(signatories=[{"name": "Claire", "email": "c@univ.example"}])
    course = await factory.course(organizations=[org])
    # Starting within the withdrawal period: the first installment is due at signature.
    start = datetime.now(UTC) + timedelta(days=1)
    run = await factory.course_run(course=course, start=start, end=start + timedelta(days=90))
    product = await factory.product(
        price="300.00", contract_required=True, target_course_runs=[run]
    )
    offering = await factory.offering(course=course, product=product, organizations=[org])
    body = {"offering_id": str(offering.id), "billing_address": ADDRESS}
    order = (await learner.post("/api/v1/orders", json=body)).json()
    link = await submit(learner, order["id"])
    await sign(link, Recipient.STUDENT)
    await state_is(learner, order["id"], "to_save_payment_method")
    await learner.post(f"/api/v1/orders/{order['id']}/payment-method", json=CARD)
    await state_is(learner, order["id"], "pending_payment")

    refunded = await admin.post(f"/api/v1/admin/orders/{order['id']}/refund")
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["state"] == "refunded"
    contract_id = (await contract_of(learner, order["id"]))["id"]
    handle = temporal_client.get_workflow_handle(signature.workflow_id(contract_id))
    assert await asyncio.wait_for(handle.result(), 20) == "canceled"
    organization_page = link.split("?")[0]
    key = signer_key(
        secret=DUMMY_SECRET,
        reference=organization_page.rsplit("/", 1)[1],
        recipient=Recipient.ORGANIZATION,
    )
    asked = {"signer": "organization", "key": key}
    async with httpx.AsyncClient() as browser:
        page = await browser.get(organization_page, params=asked)
        assert "This procedure is closed." in page.text
        await browser.post(organization_page, data=asked | {"action": "sign"})
    assert (await contract_of(learner, order["id"]))["organization_signed_on"] is None
    refund_handle = temporal_client.get_workflow_handle(refund.workflow_id(order["id"]))
    save_history("refund_closes_signature", await refund_handle.fetch_history())


async def test_contract_reads_and_errors(
    learner: httpx.AsyncClient, factory: Factory, live: str
) -> None:
    order = await contract_order(learner, factory)
    contract_id = (await contract_of(learner, order["id"]))["id"]
    listed = (await learner.get("/api/v1/contracts")).json()
    assert [item["id"] for item in listed["results"]] == [contract_id]
    headers = {"Authorization": f"Bearer {token_for(sub='someone-else', roles=[])}"}
    async with httpx.AsyncClient(base_url=live, headers=headers) as other:
        assert (await other.get(f"/api/v1/contracts/{contract_id}")).status_code == 404
        state = await other.get(f"/api/v1/contracts/{contract_id}/signature-state")
        assert state.status_code == 404
    admin_headers = {"Authorization": f"Bearer {token_for(sub='boss', roles=['admin'])}"}
    async with httpx.AsyncClient(base_url=live, headers=admin_headers) as admin:
        assert (await admin.get("/api/v1/admin/contracts")).json()["count"] == 1
        assert (await admin.get(f"/api/v1/contracts/{contract_id}")).status_code == 200
    unknown = await learner.get(f"/api/v1/contracts/{uuid.uuid4()}/signature-state")
    assert unknown.status_code == 404
    # An order without contract is not signable.
    course = await factory.course(organizations=[await factory.organization()])
    plain = await factory.offering(course=course, product=await factory.product(price="0.00"))
    free = (await learner.post("/api/v1/orders", json={"offering_id": str(plain.id)})).json()
    refused = await learner.post(f"/api/v1/orders/{free['id']}/submit-for-signature")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "order_not_signable"
    assert refused.json()["error"]["message"] == "This order has no contract to sign."


async def test_the_dummy_page_signs_only_for_the_signer_its_link_names(
    learner: httpx.AsyncClient, factory: Factory
) -> None:
    """The learner's link cannot sign for the organization, and only `sign`
    signs (any other action used to)."""
    order = await contract_order(learner, factory, price="0.00")
    link = await submit(learner, order["id"])
    page, query = link.split("?")
    mine = dict(item.split("=") for item in query.split("&"))
    assert mine["signer"] == "student"
    async with httpx.AsyncClient() as browser:
        as_organization = mine | {"signer": "organization"}
        assert (await browser.get(page, params=as_organization)).status_code == 404
        posted = await browser.post(page, data=as_organization | {"action": "sign"})
        assert posted.status_code == 404
        odd = await browser.post(page, data=mine | {"action": "approve"})
        assert odd.status_code == 400
        assert odd.json()["error"]["code"] == "unknown_action"
    contract = await contract_of(learner, order["id"])
    assert contract["student_signed_on"] is None
    assert contract["organization_signed_on"] is None
