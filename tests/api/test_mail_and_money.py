"""A mail never holds up the money: whatever becomes of a mail (an address
the server refuses, a server down, a title with a line break written before
titles were checked), the order's debits and transitions go on. Header
values are checked where they enter (token claims, catalogue titles)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update
from temporalio.api.enums.v1 import EventType

from api.auth import Claims, encode_token
from models.catalog import Product
from models.orders import OrderEvent
from tests.api.test_installments import _paid_order, _until, inbox, lms  # noqa: F401
from tests.api.test_orders import app  # noqa: F401 - the API with a worker
from tests.conftest import TEST_JWT_SECRET, ClientFor, SmtpInbox
from tests.factories import Factory
from tests.workflows.histories import save_history
from workflows.order import workflow_id
from workflows.refund import workflow_id as refund_workflow_id

REFUSED = "gone@example.org"


@pytest.fixture
def settings(settings, lms, smtp: tuple[SmtpInbox, int]):  # noqa: F811
    return settings.model_copy(
        update={
            "lms_webhook_url": lms.url,
            "lms_webhook_secret": SecretStr(lms.secret),
            "pending_charge_poll": timedelta(seconds=1),
            "mail_backend": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp[1],
        }
    )


async def _failures(sessionmaker, order_id: str, count: int, seconds: float = 30) -> list[dict]:
    """The order's `email_failed` details, once `count` are recorded."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        async with sessionmaker() as session:
            found = list(
                await session.scalars(
                    select(OrderEvent.detail).where(
                        OrderEvent.order_id == uuid.UUID(order_id),
                        OrderEvent.type == "email_failed",
                    )
                )
            )
        if len(found) >= count:
            return found
        await asyncio.sleep(0.2)
    pytest.fail(f"{len(found)} email_failed events after {seconds} s, expected {count}")


async def _mail_attempts(temporal_client, order_id: str) -> list[int]:
    """The attempt number of each `emails.send` the order's workflow ran."""
    handle = temporal_client.get_workflow_handle(workflow_id(order_id))
    scheduled: dict[int, str] = {}
    attempts = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attributes = event.activity_task_started_event_attributes
            if scheduled.get(attributes.scheduled_event_id) == "emails.send":
                attempts.append(attributes.attempt)
    return attempts


async def test_a_refused_address_holds_up_nothing(
    client_for: ClientFor,
    factory: Factory,
    inbox: SmtpInbox,  # noqa: F811
    sessionmaker,
    temporal_client,
) -> None:
    """The learner's mailbox does not exist (550): the card is debited, the
    order moves on, each refused mail is recorded once and not sent again."""
    inbox.refused.add(REFUSED)
    learner = await client_for(sub="learner-gone", email=REFUSED)
    order = await _paid_order(learner, factory, "pm_card_visa")
    paid = await _until(learner, order["id"], "pending_payment", seconds=20)
    assert paid["payment_schedule"][0]["state"] == "paid"
    # The rest of the schedule is debited too; the workflow ends once its
    # mails are over.
    await _until(learner, order["id"], "completed", seconds=30)
    result = await temporal_client.get_workflow_handle(workflow_id(order["id"])).result()
    assert result == "completed"
    failures = await _failures(sessionmaker, order["id"], 2)
    kinds = [item["kind"] for item in failures]
    assert {"order_confirmed", "installment_paid", "installments_fully_paid"} <= set(kinds)
    assert all(item["permanent"] for item in failures)
    assert all("550" in item["reason"] and REFUSED not in item["reason"] for item in failures)
    attempts = await _mail_attempts(temporal_client, order["id"])
    assert attempts and set(attempts) == {1}, attempts  # none retried
    assert inbox.refusals.count(REFUSED) == len(attempts) == len(kinds)


async def test_a_mail_server_failing_holds_up_nothing(
    client_for: ClientFor,
    factory: Factory,
    inbox: SmtpInbox,  # noqa: F811
    temporal_client,
) -> None:
    """The mail server answers 451 (try again later) to everything: every
    installment is still debited when due, while the mails are retried."""
    inbox.unavailable = True
    learner = await client_for(sub="learner-451")
    order = await _paid_order(learner, factory, "pm_card_visa")
    completed = await _until(learner, order["id"], "completed", seconds=40)
    assert [item["state"] for item in completed["payment_schedule"]] == ["paid"] * 3
    assert inbox.messages == []
    # The workflow still runs for its mails, retried with backoff.
    described = await temporal_client.get_workflow_handle(workflow_id(order["id"])).describe()
    pending = described.raw_description.pending_activities
    assert pending and all(item.activity_type.name == "emails.send" for item in pending)
    assert max(item.attempt for item in pending) > 1


async def test_an_lms_down_holds_up_nothing(
    client_for: ClientFor,
    factory: Factory,
    lms,  # noqa: F811
) -> None:
    """The LMS answers 503: the order is debited to the end all the same, and
    the LMS hears of the enrollment once it is back."""
    lms.down = True
    learner = await client_for(sub="learner-no-lms")
    order = await _paid_order(learner, factory, "pm_card_visa")
    completed = await _until(learner, order["id"], "completed", seconds=40)
    assert [item["state"] for item in completed["payment_schedule"]] == ["paid"] * 3
    assert lms.received == []
    lms.down = False
    for _ in range(300):  # the grant is retried with backoff (at most 30 s apart)
        if lms.received:
            break
        await asyncio.sleep(0.2)
    assert [item["is_active"] for item in lms.received] == [True]


async def test_an_lms_down_holds_up_no_refund(
    client_for: ClientFor,
    factory: Factory,
    lms,  # noqa: F811
    temporal_client,
) -> None:
    """The admin's refund answers once the money is back, though the LMS
    cannot hear of the revocation yet; it hears once it is back."""
    learner = await client_for(sub="learner-refund-no-lms")
    admin = await client_for(sub="admin-refund-no-lms", roles=["admin"])
    order = await _paid_order(learner, factory, "pm_card_visa")
    await _until(learner, order["id"], "pending_payment")
    for _ in range(300):
        if lms.received:
            break
        await asyncio.sleep(0.1)
    lms.down = True
    refunded = await admin.post(f"/api/v1/admin/orders/{order['id']}/refund")
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["state"] == "refunded"
    lms.down = False
    for _ in range(300):  # the revocation is retried with backoff (at most 30 s apart)
        if len(lms.received) == 2:
            break
        await asyncio.sleep(0.2)
    assert [item["is_active"] for item in lms.received] == [True, False]
    run = temporal_client.get_workflow_handle(refund_workflow_id(order["id"]))
    assert await asyncio.wait_for(run.result(), 60) == "refunded"
    save_history("refund_answered_while_lms_down", await run.fetch_history())


async def test_a_title_with_a_line_break_still_sends_one_line_subjects(
    client_for: ClientFor,
    factory: Factory,
    inbox: SmtpInbox,  # noqa: F811
    sessionmaker,
) -> None:
    """A product title written with a line break before titles were checked
    neither freezes its orders nor forges a header: the subject is one line."""
    learner = await client_for(sub="learner-title")
    order = await _paid_order(learner, factory, "pm_card_visa")
    async with sessionmaker.begin() as session:
        await session.execute(
            update(Product)
            .where(Product.id == uuid.UUID(order["offering"]["product"]["id"]))
            .values(title="Data\r\nBcc: spy@example.org")
        )
    await _until(learner, order["id"], "completed", seconds=40)
    for _ in range(100):  # the last mails follow the last debit
        forged = [message for message in inbox.messages if "Data" in str(message["Subject"])]
        if len(forged) >= 2:
            break
        await asyncio.sleep(0.2)
    assert forged, [str(message["Subject"]) for message in inbox.messages]
    for message in forged:
        assert "\n" not in str(message["Subject"]) and message["Bcc"] is None
    assert await _failures(sessionmaker, order["id"], 0) == []


async def test_titles_and_claims_with_line_breaks_are_refused(
    client_for: ClientFor,
    app,  # noqa: F811
) -> None:
    admin = await client_for(sub="admin-1", roles=["admin"])
    created = await admin.post(
        "/api/v1/admin/products",
        json={"type": "credential", "title": "A\nBcc: spy@example.org", "price": "10.00"},
    )
    assert created.status_code == 422, created.text
    claims = Claims(sub="learner-crlf", email="ok@example.org", name="Ada")
    forged = encode_token(
        claims=claims.model_copy(update={"email": "ok@example.org\r\nBcc: spy@example.org"}),
        secret=TEST_JWT_SECRET,
        algorithm="HS256",
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://guichet.test"
    ) as client:
        answer = await client.get("/api/v1/orders", headers={"Authorization": f"Bearer {forged}"})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_token"
