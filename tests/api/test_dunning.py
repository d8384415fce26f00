"""Refused installments recover by themselves (spec 25, dunning): a soft
refusal is charged again at each step of GUICHET_DUNNING_RETRY_DELAYS, a
hard one waits for the learner, and the refusal mail says which."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from temporalio.api.enums.v1 import EventType

from api.app import create_app
from domain.payments import DEFAULT_RETRY_DELAYS
from tests.api.test_installments import (  # noqa: F401 - fixtures
    _events,
    _paid_order,
    _until,
    inbox,
    lms,
    with_mail_and_lms,
)
from tests.api.test_orders import app  # noqa: F401 - the API with a worker
from tests.conftest import SmtpInbox, token_for
from tests.factories import Factory
from tests.workflows.histories import save_history
from workflows.order import workflow_id

LADDER = [timedelta(seconds=2), timedelta(seconds=4)]


@pytest.fixture
def settings(settings, lms, smtp):  # noqa: F811
    """As the installment tests, with a ladder of seconds."""
    ladder = {"dunning_retry_delays": LADDER}
    return with_mail_and_lms(settings, lms, smtp).model_copy(update=ladder)


async def _refusals(sessionmaker, order_id: str, count: int, seconds: float = 40) -> list[str]:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        events = await _events(sessionmaker, order_id)
        if events.count("debit_refused") >= count:
            return events
        await asyncio.sleep(0.2)
    pytest.fail(f"{count} refusals not reached within {seconds} s: {events}")


async def _timers_after_debits(temporal_client, order_id: str) -> list[list[timedelta]]:
    """The durable timers the order's workflow started after each debit."""
    handle = temporal_client.get_workflow_handle(workflow_id(order_id))
    found: list[list[timedelta]] = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if event.activity_task_scheduled_event_attributes.activity_type.name == "orders.debit":
                found.append([])
        elif event.event_type == EventType.EVENT_TYPE_TIMER_STARTED and found:
            timer = event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
            found[-1].append(timer)
    return found


def _bodies(mailbox: SmtpInbox, subject: str) -> list[str]:
    return [
        message.get_body(preferencelist=("plain",)).get_content()
        for message in mailbox.messages
        if str(message["Subject"]).startswith(subject)
    ]


async def _refusal_mail(mailbox: SmtpInbox, seconds: float = 20) -> str:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        found = _bodies(mailbox, "Paiement refusé")
        if found:
            return found[0]
        await asyncio.sleep(0.1)
    pytest.fail("no refusal mail")


async def test_a_soft_refusal_is_charged_again_and_recovers(
    learner: httpx.AsyncClient,
    factory: Factory,
    sessionmaker,
    inbox: SmtpInbox,  # noqa: F811
    temporal_client,
) -> None:
    """insufficient_funds at each installment's first attempt, paid at the
    next: the order completes with nobody doing anything, one mail per
    refused installment. Each retry's new idempotency key is what pays: the
    same key would read the stored refusal again."""
    order = await _paid_order(learner, factory, "pm_card_insufficientFundsOnce")
    completed = await _until(learner, order["id"], "completed", seconds=60)
    assert [item["state"] for item in completed["payment_schedule"]] == ["paid"] * 3
    events = await _events(sessionmaker, order["id"])
    assert events.count("debit_refused") == 3 and events.count("debit_paid") == 3
    mail = await _refusal_mail(inbox)
    assert "Nous réessaierons automatiquement le" in mail
    handle = temporal_client.get_workflow_handle(workflow_id(order["id"]))
    assert await handle.result() == "completed"
    save_history("order_dunning_recovered", await handle.fetch_history())


async def test_soft_retries_spent_the_order_waits_for_the_learner(
    learner: httpx.AsyncClient, factory: Factory, sessionmaker, temporal_client
) -> None:
    order = await _paid_order(learner, factory, "pm_card_chargeDeclinedInsufficientFunds")
    await _refusals(sessionmaker, order["id"], 3)  # the first, then one per delay
    # After each refused debit, a timer to the ladder's next step (counted
    # from the first refusal), then none: the order waits for the learner.
    first, second, third = (await _timers_after_debits(temporal_client, order["id"]))[:3]
    # Timers run to a moment, so they are what remains of the delay (less on
    # a busy machine); the second is at most 2 s: reckoned from the first
    # refusal, not 4 s after the second.
    assert timedelta(0) < max(first) <= LADDER[0]
    assert timedelta(0) < max(second) <= LADDER[1] - LADDER[0]
    assert third == []
    waiting = (await learner.get(f"/api/v1/orders/{order['id']}")).json()
    assert waiting["state"] in {"no_payment", "failed_payment"}
    # A new card pays at once.
    await learner.post(
        f"/api/v1/orders/{order['id']}/payment-method", json={"payment_method_id": "pm_card_visa"}
    )
    paid = await _until(learner, order["id"], "pending_payment", seconds=20)
    assert paid["payment_schedule"][0]["state"] == "paid"


async def test_a_hard_refusal_is_not_retried(
    learner: httpx.AsyncClient,
    factory: Factory,
    sessionmaker,
    inbox: SmtpInbox,  # noqa: F811
    temporal_client,
) -> None:
    order = await _paid_order(learner, factory, "pm_card_chargeDeclinedLostCard")
    await _refusals(sessionmaker, order["id"], 1)
    mail = await _refusal_mail(inbox)
    assert "Enregistrez un nouveau moyen de paiement" in mail
    assert "réessaierons" not in mail
    await _until(learner, order["id"], "no_payment", seconds=20)
    assert (await _timers_after_debits(temporal_client, order["id"]))[-1] == []
    events = await _events(sessionmaker, order["id"])
    assert events.count("debit_refused") == 1


async def test_the_default_ladder_waits_days_on_durable_timers(
    settings,
    factory: Factory,
    sessionmaker,
    temporal_env,
    temporal_client,
    worker,
) -> None:
    """GUICHET_DUNNING_RETRY_DELAYS by default (1, 3, 7 days): after a soft
    refusal the workflow sleeps a day on a durable timer (no cron, no
    time-skipping server here: the history says how long)."""
    defaults = settings.model_copy(
        update={
            "dunning_retry_delays": list(DEFAULT_RETRY_DELAYS),
            "temporal_address": temporal_env.client.service_client.config.target_host,
        }
    )
    application = create_app(defaults)
    headers = {"Authorization": f"Bearer {token_for(sub='learner-days', roles=[])}"}
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application),
            base_url="http://test",
            headers=headers,
        ) as learner,
    ):
        order = await _paid_order(learner, factory, "pm_card_chargeDeclinedInsufficientFunds")
        await _refusals(sessionmaker, order["id"], 1)
        await _until(learner, order["id"], "no_payment", seconds=20)
    for _ in range(100):
        timers = await _timers_after_debits(temporal_client, order["id"])
        if timers[-1]:
            break
        await asyncio.sleep(0.1)
    day = DEFAULT_RETRY_DELAYS[0]
    assert day - timedelta(minutes=1) < max(timers[-1]) <= day


def _pay_path(order: dict, index: int = 0) -> str:
    installment = order["payment_schedule"][index]["id"]
    return f"/api/v1/orders/{order['id']}/installments/{installment}/pay"


async def test_a_learner_pays_a_refused_installment_now_with_a_new_card(
    learner: httpx.AsyncClient, factory: Factory, sessionmaker, temporal_client
) -> None:
    """A lost card (hard: nothing retries it): the learner pays from the
    dashboard with another card, which then pays the next installments."""
    order = await _paid_order(learner, factory, "pm_card_chargeDeclinedLostCard")
    refused = await _until(learner, order["id"], "no_payment", seconds=20)
    assert refused["payment_schedule"][0]["decline_code"] == "lost_card"
    paid = await learner.post(_pay_path(refused), json={"payment_method_id": "pm_card_visa"})
    assert paid.status_code == 200, paid.text
    assert (paid.json()["state"], paid.json()["decline_code"]) == ("paid", "lost_card")
    after = (await learner.get(f"/api/v1/orders/{order['id']}")).json()
    assert after["state"] == "pending_payment" and after["payment_method"]["last4"] == "4242"
    again = await learner.post(_pay_path(refused), json={})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "installment_not_payable")
    await _until(learner, order["id"], "completed", seconds=40)
    handle = temporal_client.get_workflow_handle(workflow_id(order["id"]))
    assert await handle.result() == "completed"
    save_history("order_paid_now", await handle.fetch_history())


async def test_pay_now_and_retry_now_with_a_card_still_refused(
    learner: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    client_for,
    factory: Factory,
    sessionmaker,
) -> None:
    order = await _paid_order(learner, factory, "pm_card_chargeDeclinedInsufficientFunds")
    refused = await _until(learner, order["id"], "no_payment", seconds=20)
    now = await learner.post(_pay_path(refused), json={})
    assert now.status_code == 200, now.text
    assert (now.json()["state"], now.json()["decline_code"]) == ("refused", "insufficient_funds")
    installment = refused["payment_schedule"][0]["id"]
    retry = f"/api/v1/admin/orders/{order['id']}/installments/{installment}/retry"
    retried = await admin.post(retry)
    assert retried.status_code == 200 and retried.json()["state"] == "refused"
    # Not someone else's order, not an installment that was not refused.
    stranger = await client_for(sub="stranger")
    assert (await stranger.post(_pay_path(refused), json={})).status_code == 404
    later = await learner.post(_pay_path(refused, 1), json={})
    assert (later.status_code, later.json()["error"]["code"]) == (409, "installment_not_payable")
    events = await _events(sessionmaker, order["id"])
    assert events.count("debit_refused") >= 3
