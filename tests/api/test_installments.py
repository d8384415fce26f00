"""Installments debited by the order workflow's durable timers, with due times
a few seconds ahead: a course starting in 6 s and ending in 10 s gives three
installments of a 450.00 order, due at once, at the start and at the end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from domain.payment_schedule import paris_day
from models.catalog import Organization
from models.orders import OrderEvent
from models.payments import DummyChargeRow
from tests.api.test_orders import _create, _offering, app  # noqa: F401 - the API with a worker
from tests.api.tunnel import ADDRESS
from tests.conftest import SmtpInbox
from tests.factories import Factory
from tests.fakes import serve
from tests.fakes.lms import FakeLms
from tests.workflows.histories import save_history
from workflows import refund
from workflows.order import workflow_id


@pytest.fixture
async def lms() -> AsyncIterator[FakeLms]:
    fake = FakeLms(secret="lms-secret")
    async with serve(fake.app()) as url:
        fake.url = f"{url}/enrollments"  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
def inbox(smtp: tuple[SmtpInbox, int]) -> SmtpInbox:
    return smtp[0]


@pytest.fixture
def settings(settings, lms: FakeLms, smtp: tuple[SmtpInbox, int]):
    return with_mail_and_lms(settings, lms, smtp)


def with_mail_and_lms(settings, lms: FakeLms, smtp: tuple[SmtpInbox, int]):
    """Mail goes to a real SMTP server; the LMS hears about every enrollment change."""
    return settings.model_copy(
        update={
            "lms_webhook_url": lms.url,  # type: ignore[attr-defined]
            "lms_webhook_secret": SecretStr(lms.secret),
            "pending_charge_poll": timedelta(seconds=1),
            "mail_backend": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp[1],
        }
    )


# Margin for a loaded CI machine between creating the course run and the
# order reaching pending (a course already started gives another schedule).
START_IN = timedelta(seconds=6)
END_IN = timedelta(seconds=10)


async def _paid_order(
    learner: httpx.AsyncClient,
    factory: Factory,
    card: str,
    *,
    organization: Organization | None = None,
    language: str | None = None,
    starts_in: timedelta = START_IN,
    **product: object,
) -> dict:
    """A 450.00 order in three installments with `card` saved (the first
    is due now); `product` fields (tax_rate) and the order's language apart."""
    org = organization or await factory.organization()
    course = await factory.course(organizations=[org])
    now = datetime.now(UTC)
    start = now + starts_in
    run = await factory.course_run(course=course, start=start, end=start + END_IN - START_IN)
    product = await factory.product(price="450.00", target_course_runs=[run], **product)
    offering = await factory.offering(course=course, product=product, organizations=[org])
    extra = {"language": language} if language else {}
    order = (await _create(learner, offering, billing_address=ADDRESS, **extra)).json()
    saved = await learner.post(
        f"/api/v1/orders/{order['id']}/payment-method", json={"payment_method_id": card}
    )
    assert saved.status_code == 200, saved.text
    return saved.json()


async def _until(
    learner: httpx.AsyncClient, order_id: str, state: str, seconds: float = 30
) -> dict:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        order = (await learner.get(f"/api/v1/orders/{order_id}")).json()
        if order["state"] == state:
            return order
        await asyncio.sleep(0.2)
    pytest.fail(f"order not {state} after {seconds} s: {order['state']}")


def _subjects(inbox: SmtpInbox) -> list[str]:
    return sorted(str(message["Subject"]) for message in inbox.messages)


async def _mail_arrives(
    inbox: SmtpInbox, starting: str, seconds: float = 10, *, containing: str = ""
) -> list[str]:
    """The subjects starting with `starting` (and holding `containing`), once
    one has arrived: a mail is sent by an activity after the state it
    reports is visible."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        found = [
            subject
            for subject in _subjects(inbox)
            if subject.startswith(starting) and containing in subject
        ]
        if found:
            return found
        await asyncio.sleep(0.1)
    pytest.fail(f"no mail {starting!r} after {seconds} s: {_subjects(inbox)}")


def _text(message) -> str:
    return message.get_body(("plain",)).get_content()


def _mails(inbox: SmtpInbox, subject_part: str) -> list:
    return [message for message in inbox.messages if subject_part in str(message["Subject"])]


async def _events(sessionmaker, order_id: str) -> list[str]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(OrderEvent.type)
            .where(OrderEvent.order_id == uuid.UUID(order_id))
            .order_by(OrderEvent.at, OrderEvent.id)
        )
        return list(rows)


async def _charges(sessionmaker) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(DummyChargeRow)) or 0)


async def test_three_installments_paid_in_full(
    learner: httpx.AsyncClient, factory: Factory, inbox: SmtpInbox, sessionmaker, temporal_client
) -> None:
    order = await _paid_order(learner, factory, "pm_card_visa")
    assert [item["amount"] for item in order["payment_schedule"]] == ["135.00", "157.50", "157.50"]
    first = await _until(learner, order["id"], "pending_payment", seconds=10)
    assert first["payment_schedule"][0]["state"] == "paid"
    done = await _until(learner, order["id"], "completed")
    assert [item["state"] for item in done["payment_schedule"]] == ["paid", "paid", "paid"]
    events = await _events(sessionmaker, order["id"])
    assert events.count("debit_paid") == 3
    assert await _charges(sessionmaker) == 3
    handle = temporal_client.get_workflow_handle(workflow_id(order["id"]))
    assert await handle.result() == "completed"
    subjects = _subjects(inbox)
    assert sum("payée" in subject and "Échéance" in subject for subject in subjects) == 2
    assert sum("entièrement payée" in subject for subject in subjects) == 1
    reminders = [subject for subject in subjects if " le " in subject]
    assert len(reminders) == 2
    assert all(subject.startswith("Échéance de 157,50") for subject in reminders)
    assert sum("est confirmée" in subject for subject in subjects) == 1
    assert {message["To"] for message in inbox.messages} == {"learner-1@example.org"}
    due = {item["amount"]: item["due_date"] for item in done["payment_schedule"][1:]}
    day = "/".join(reversed(due["157.50"].split("-")))  # the French date of the last two
    for message in _mails(inbox, " le ") + _mails(inbox, "payée"):
        body = _text(message)
        assert "157,50" in body or "135,00" in body
        assert "4242" in body
    (last,) = _mails(inbox, "entièrement payée")
    assert "450,00" in _text(last)
    assert any(day in _text(message) for message in _mails(inbox, " le "))
    save_history("order_installments_paid", await handle.fetch_history())
    main, *children = (await learner.get(f"/api/v1/orders/{order['id']}/invoices")).json()
    assert (main["kind"], main["total"], main["parent_id"]) == ("invoice", "450.00", None)
    assert main["billing_address"]["city"] == ADDRESS["city"]
    assert main["transactions"] == []
    assert [child["total"] for child in children] == ["135.00", "157.50", "157.50"]
    # The organization's next invoice numbers of the year, in payment order.
    year = paris_day(datetime.fromisoformat(children[0]["created_at"])).year
    assert [child["reference"] for child in children] == [
        f"{main['issuer']['code']}-{year}-{number:06d}" for number in (1, 2, 3)
    ]
    for child, installment in zip(children, done["payment_schedule"], strict=True):
        assert child["parent_id"] == main["id"]
        (payment,) = child["transactions"]
        assert (payment["kind"], payment["amount"]) == ("payment", installment["amount"])
        assert payment["reference"].startswith("dummy_pi_")


async def test_invoices_are_the_owners_and_admins_only(
    learner: httpx.AsyncClient, admin: httpx.AsyncClient, client_for, factory: Factory
) -> None:
    order = await _paid_order(learner, factory, "pm_card_visa")
    path = f"/api/v1/orders/{order['id']}/invoices"
    stranger = await client_for(sub="someone-else")
    assert (await stranger.get(path)).json()["error"]["code"] == "order_not_found"
    assert (await (await client_for()).get(path)).status_code == 401
    assert [item["total"] for item in (await admin.get(path)).json()][:1] == ["450.00"]


async def test_a_free_order_has_no_invoice(learner: httpx.AsyncClient, factory: Factory) -> None:
    order = (await _create(learner, await _offering(factory, price="0.00"))).json()
    assert (await learner.get(f"/api/v1/orders/{order['id']}/invoices")).json() == []


async def test_a_second_installment_refused_then_a_new_card(
    learner: httpx.AsyncClient, factory: Factory, inbox: SmtpInbox, sessionmaker
) -> None:
    order = await _paid_order(learner, factory, "pm_card_visa")
    await _until(learner, order["id"], "pending_payment", seconds=10)
    # The learner swaps in a card that will not pay the next installment.
    swapped = await learner.post(
        f"/api/v1/orders/{order['id']}/payment-method",
        json={"payment_method_id": "pm_card_insufficientFunds"},
    )
    assert swapped.status_code == 200, swapped.text
    refused = await _until(learner, order["id"], "failed_payment", seconds=15)
    assert [item["state"] for item in refused["payment_schedule"]] == ["paid", "refused", "pending"]
    refusals = await _mail_arrives(inbox, "Paiement refusé")
    assert len(refusals) == 1 and "157,50" in refusals[0]
    await learner.post(
        f"/api/v1/orders/{order['id']}/payment-method", json={"payment_method_id": "pm_card_visa"}
    )
    done = await _until(learner, order["id"], "completed")
    assert [item["state"] for item in done["payment_schedule"]] == ["paid"] * 3
    events = await _events(sessionmaker, order["id"])
    assert (events.count("debit_refused"), events.count("debit_paid")) == (1, 3)


async def test_a_charge_confirmed_later_is_asked_again(
    learner: httpx.AsyncClient, factory: Factory, sessionmaker, temporal_client
) -> None:
    """The provider answers "processing": no verdict, no email; the workflow
    asks again after GUICHET_PENDING_CHARGE_POLL (its webhook would wake it sooner)."""
    order = await _paid_order(learner, factory, "pm_card_asyncConfirmation")
    paid = await _until(learner, order["id"], "pending_payment", seconds=10)
    assert paid["payment_schedule"][0]["state"] == "paid"
    events = await _events(sessionmaker, order["id"])
    assert events.index("debit_pending") < events.index("debit_paid")
    await learner.post(f"/api/v1/orders/{order['id']}/cancel")
    handle = temporal_client.get_workflow_handle(workflow_id(order["id"]))
    assert await handle.result() == "canceled"
    save_history("order_charge_confirmed_later", await handle.fetch_history())


async def test_refused_installment_then_a_new_card(
    learner: httpx.AsyncClient, factory: Factory, inbox: SmtpInbox, sessionmaker
) -> None:
    order = await _paid_order(learner, factory, "pm_card_chargeDeclined")
    refused = await _until(learner, order["id"], "no_payment", seconds=10)
    assert refused["payment_schedule"][0]["state"] == "refused"
    assert await _mail_arrives(inbox, "Paiement refusé")
    await learner.post(
        f"/api/v1/orders/{order['id']}/payment-method", json={"payment_method_id": "pm_card_visa"}
    )
    retried = await _until(learner, order["id"], "pending_payment", seconds=10)
    assert retried["payment_schedule"][0]["state"] == "paid"
    assert retried["payment_method"]["last4"] == "4242"
    await _until(learner, order["id"], "completed")
    events = await _events(sessionmaker, order["id"])
    assert events.count("debit_refused") == 1
    assert events.count("debit_paid") == 3


async def test_provider_outage_then_recovery(
    learner: httpx.AsyncClient, factory: Factory, inbox: SmtpInbox, sessionmaker
) -> None:
    order = await _paid_order(learner, factory, "pm_card_providerOutage")
    paid = await _until(learner, order["id"], "pending_payment", seconds=15)
    assert paid["payment_schedule"][0]["state"] == "paid"
    events = await _events(sessionmaker, order["id"])
    first_paid = events.index("debit_paid")
    assert events[:first_paid].count("debit_error") == 2
    # No email about the outage itself: only once it is paid.
    assert not any("refusé" in subject for subject in _subjects(inbox))


async def test_cancel_mid_schedule_stops_the_debits(
    learner: httpx.AsyncClient, factory: Factory, sessionmaker, temporal_client
) -> None:
    order = await _paid_order(learner, factory, "pm_card_visa")
    await _until(learner, order["id"], "pending_payment", seconds=10)
    canceled = (await learner.post(f"/api/v1/orders/{order['id']}/cancel")).json()
    assert canceled["state"] == "canceled"
    assert [item["state"] for item in canceled["payment_schedule"]] == [
        "paid",
        "canceled",
        "canceled",
    ]
    handle = temporal_client.get_workflow_handle(workflow_id(order["id"]))
    assert await handle.result() == "canceled"
    await asyncio.sleep((END_IN + timedelta(seconds=1)).total_seconds())
    assert await _charges(sessionmaker) == 1


async def test_refund_of_a_completed_order(
    learner: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    factory: Factory,
    inbox: SmtpInbox,
    sessionmaker,
    temporal_client,
) -> None:
    order = await _paid_order(learner, factory, "pm_card_visa")
    await _until(learner, order["id"], "completed")
    # Its workflow has ended: the refund's own workflow refunds it.
    assert await temporal_client.get_workflow_handle(workflow_id(order["id"])).result() == (
        "completed"
    )
    refunded = await admin.post(f"/api/v1/admin/orders/{order['id']}/refund")
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["state"] == "refunded"
    assert [item["state"] for item in refunded.json()["payment_schedule"]] == ["refunded"] * 3
    events = await _events(sessionmaker, order["id"])
    assert events.count("installment_refunded") == 3
    assert events[-1] == "refunded"
    # The mail follows the refund: the admin's answer does not wait for it.
    assert await _mail_arrives(inbox, "Votre commande", containing="remboursée")
    (mail,) = [m for m in inbox.messages if "remboursée" in str(m["Subject"])]
    # The whole 450.00 went back (French format: 450,00 €).
    assert "450,00" in mail.get_body(preferencelist=("plain",)).get_content()
    refund_run = temporal_client.get_workflow_handle(refund.workflow_id(order["id"]))
    assert await refund_run.result() == "refunded"
    save_history("refund_of_completed_order", await refund_run.fetch_history())
    again = await admin.post(f"/api/v1/admin/orders/{order['id']}/refund")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "order_not_refundable"
    invoices = (await learner.get(f"/api/v1/orders/{order['id']}/invoices")).json()
    notes = [item for item in invoices if item["kind"] == "credit_note"]
    assert sorted(note["total"] for note in notes) == ["-135.00", "-157.50", "-157.50"]
    assert all(note["transactions"][0]["kind"] == "refund" for note in notes)
    assert all(note["transactions"][0]["amount"] == note["total"] for note in notes)


async def test_refund_mid_schedule_stops_the_debits(
    learner: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    factory: Factory,
    sessionmaker,
    temporal_client,
) -> None:
    order = await _paid_order(learner, factory, "pm_card_visa")
    await _until(learner, order["id"], "pending_payment", seconds=10)
    refunded = (await admin.post(f"/api/v1/admin/orders/{order['id']}/refund")).json()
    assert refunded["state"] == "refunded"
    assert [item["state"] for item in refunded["payment_schedule"]] == [
        "refunded",
        "canceled",
        "canceled",
    ]
    # The order's workflow handed the order over to the refund's and ended.
    handle = temporal_client.get_workflow_handle(workflow_id(order["id"]))
    assert await handle.result() == "refunding"
    save_history("order_handed_over_for_refund", await handle.fetch_history())
    refund_run = temporal_client.get_workflow_handle(refund.workflow_id(order["id"]))
    assert await refund_run.result() == "refunded"
    save_history("refund_mid_schedule", await refund_run.fetch_history())
    await asyncio.sleep((END_IN + timedelta(seconds=1)).total_seconds())
    assert await _charges(sessionmaker) == 2  # the charge and its refund


async def test_nothing_to_refund(
    learner: httpx.AsyncClient, admin: httpx.AsyncClient, factory: Factory
) -> None:
    order = (await _create(learner, await _offering(factory), billing_address=ADDRESS)).json()
    assert (await learner.post(f"/api/v1/admin/orders/{order['id']}/refund")).status_code == 403
    response = await admin.post(f"/api/v1/admin/orders/{order['id']}/refund")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "order_not_refundable"
    # Canceled before any debit: nothing to give back either.
    await learner.post(f"/api/v1/orders/{order['id']}/cancel")
    canceled = await admin.post(f"/api/v1/admin/orders/{order['id']}/refund")
    assert canceled.status_code == 409


async def test_enrollment_follows_payment_and_refund(
    learner: httpx.AsyncClient, admin: httpx.AsyncClient, factory: Factory, lms: FakeLms
) -> None:
    order = await _paid_order(learner, factory, "pm_card_visa")
    assert (await learner.get("/api/v1/enrollments")).json()["count"] == 0
    await _until(learner, order["id"], "pending_payment", seconds=10)

    async def enrollments() -> list[dict]:
        return (await learner.get("/api/v1/enrollments")).json()["results"]

    for _ in range(50):
        if await enrollments():
            break
        await asyncio.sleep(0.1)
    (granted,) = await enrollments()
    assert granted["is_active"] is True
    assert granted["created_by_order"] == order["id"]
    await admin.post(f"/api/v1/admin/orders/{order['id']}/refund")
    # Revoked right after the answer (which waits for the money, not the LMS).
    for _ in range(300):
        (revoked,) = await enrollments()
        if not revoked["is_active"] and len(lms.received) == 2:
            break
        await asyncio.sleep(0.1)
    assert revoked["is_active"] is False
    assert [item["is_active"] for item in lms.received] == [True, False]
    assert lms.received[0]["course_runs"] == [granted["course_run_id"]]


async def test_mails_speak_the_learners_language(
    client_for, factory: Factory, inbox: SmtpInbox
) -> None:
    """From the order's `language`, else the browser's Accept-Language; the
    order keeps it for every mail that follows."""
    learner = await client_for(sub="english-learner")
    offering = await _offering(factory)
    headers = {"Accept-Language": "en-GB,en;q=0.9,fr;q=0.8"}
    created = await learner.post(
        "/api/v1/orders",
        json={"offering_id": str(offering.id), "billing_address": ADDRESS},
        headers=headers,
    )
    assert created.json()["language"] == "en"
    await learner.post(
        f"/api/v1/orders/{created.json()['id']}/payment-method",
        json={"payment_method_id": "pm_card_visa"},
    )
    assert await _mail_arrives(inbox, "Your order", containing="is confirmed")
    chosen = await learner.post(
        "/api/v1/orders",
        json={
            "offering_id": str((await _offering(factory)).id),
            "billing_address": ADDRESS,
            "language": "fr",
        },
        headers=headers,
    )
    assert chosen.json()["language"] == "fr"
