"""Off-session charges the bank wants the learner to authenticate (spec 25,
"An off-session charge that needs the learner"), on the embedded stack: the
dummy card pm_card_authenticationRequired needs the learner at every charge,
and the dummy bank's page plays the challenge."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from tests.api.test_dunning import _pay_path
from tests.api.test_installments import (  # noqa: F401 - fixtures
    _events,
    _paid_order,
    _until,
    inbox,
    lms,
    with_mail_and_lms,
)
from tests.api.test_orders import app  # noqa: F401 - the API with a worker
from tests.conftest import SmtpInbox
from tests.factories import Factory
from tests.workflows.histories import save_history
from workflows.order import workflow_id

CARD = "pm_card_authenticationRequired"
FRONT_END = "https://learn.example.org"


@pytest.fixture
def settings(settings, lms, smtp):  # noqa: F811
    """As the installment tests, with the learner's front end named."""
    return with_mail_and_lms(settings, lms, smtp).model_copy(update={"frontend_url": FRONT_END})


async def _installment_in(
    learner: httpx.AsyncClient, order_id: str, index: int, state: str, seconds: float = 30
) -> dict:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        order = (await learner.get(f"/api/v1/orders/{order_id}")).json()
        if order["payment_schedule"][index]["state"] == state:
            return order
        await asyncio.sleep(0.2)
    pytest.fail(f"installment {index} not {state} after {seconds} s: {order['payment_schedule']}")


async def _mail(
    mailbox: SmtpInbox, subject: str, seconds: float = 20, *, containing: str = ""
) -> str:
    """The text of the first mail whose subject holds `subject` (sent to an
    address holding `containing`)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        for message in mailbox.messages:
            if subject in str(message["Subject"]) and containing in str(message["To"]):
                return message.get_body(preferencelist=("plain",)).get_content()
        await asyncio.sleep(0.1)
    pytest.fail(f"no mail {subject!r} to {containing!r}")


def _payment_path(order: dict, index: int) -> str:
    return _pay_path(order, index).removesuffix("/pay") + "/payment"


async def _answer_bank(browser: httpx.AsyncClient, url: str, action: str) -> str:
    """The learner on the dummy bank's page: Authenticate or Fail."""
    page = await browser.get(url)
    assert page.status_code == 200 and "Confirm this payment" in page.text
    key = re.search(r'name="key" value="([^"]+)"', page.text)
    assert key is not None
    answer = await browser.post(url.split("?")[0], data={"key": key[1], "action": action})
    assert answer.status_code == 200, answer.text
    return answer.text


async def test_a_charge_the_bank_wants_authenticated_waits_for_the_learner(
    learner: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    factory: Factory,
    sessionmaker,
    inbox: SmtpInbox,  # noqa: F811
    temporal_client,
) -> None:
    """First installment: action_required (not a refusal: the order stays
    pending, a mail with the pay link), the learner fails the challenge (a
    hard refusal: no automatic retry), pays now with the saved card (the bank
    asks again) and passes it. Second: the learner pays with another card
    instead, and the charge waiting for them is withdrawn."""
    order = await _paid_order(learner, factory, CARD)
    waiting = await _installment_in(learner, order["id"], 0, "action_required")
    assert waiting["state"] == "pending"
    first = waiting["payment_schedule"][0]
    assert first["decline_code"] == "authentication_required"
    mail = await _mail(inbox, "Confirmez votre paiement")
    assert f"{FRONT_END}/orders/{order['id']}/installments/{first['id']}/pay" in mail
    payment = await learner.get(_payment_path(waiting, 0))
    assert payment.status_code == 200, payment.text
    body = payment.json()
    assert (body["amount"], body["currency"]) == ("135.00", "EUR")
    assert body["client_secret"] and body["next_action_url"]
    # Only the learner's own order, only an installment waiting for them.
    not_waiting = await learner.get(_payment_path(waiting, 1))
    assert (not_waiting.status_code, not_waiting.json()["error"]["code"]) == (
        409,
        "installment_not_payable",
    )

    assert "nothing was debited" in await _answer_bank(anonymous, body["next_action_url"], "fail")
    refused = await _until(learner, order["id"], "no_payment")
    assert refused["payment_schedule"][0]["decline_code"] == "payment_intent_authentication_failure"
    assert "réessaierons" not in await _mail(inbox, "Paiement refusé")

    again = await learner.post(_pay_path(refused, 0), json={})
    assert (again.status_code, again.json()["state"]) == (200, "action_required"), again.text
    retry = (await learner.get(_payment_path(refused, 0))).json()
    assert retry["next_action_url"] != body["next_action_url"]  # a new charge
    await _answer_bank(anonymous, retry["next_action_url"], "authenticate")
    paid = await _until(learner, order["id"], "pending_payment")
    assert paid["payment_schedule"][0]["state"] == "paid"

    second = await _installment_in(learner, order["id"], 1, "action_required")
    stale = (await learner.get(_payment_path(second, 1))).json()["next_action_url"]
    other = await learner.post(_pay_path(second, 1), json={"payment_method_id": "pm_card_visa"})
    assert (other.status_code, other.json()["state"]) == (200, "paid"), other.text
    # The withdrawn charge's challenge, answered late, takes nothing.
    await _answer_bank(anonymous, stale, "authenticate")
    done = await _until(learner, order["id"], "completed", seconds=40)
    assert [item["state"] for item in done["payment_schedule"]] == ["paid"] * 3
    events = await _events(sessionmaker, order["id"])
    assert events.count("debit_action_required") == 3
    assert events.count("debit_withdrawn") == 1 and events.count("debit_paid") == 3
    handle = temporal_client.get_workflow_handle(workflow_id(order["id"]))
    assert await handle.result() == "completed"
    save_history("order_action_required", await handle.fetch_history())


async def test_canceling_withdraws_the_charge_waiting_for_the_learner(
    learner: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    factory: Factory,
    sessionmaker,
    inbox: SmtpInbox,  # noqa: F811
    temporal_client,
) -> None:
    """The learner cancels instead of authenticating: the charge is canceled
    at the provider, so the challenge answered late takes nothing; the
    learner is told the order is canceled."""
    order = await _paid_order(learner, factory, CARD)
    waiting = await _installment_in(learner, order["id"], 0, "action_required")
    stale = (await learner.get(_payment_path(waiting, 0))).json()["next_action_url"]
    canceled = await learner.post(f"/api/v1/orders/{order['id']}/cancel")
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["state"] == "canceled"
    assert canceled.json()["payment_schedule"][0]["state"] == "canceled"
    await _answer_bank(anonymous, stale, "authenticate")
    events = await _events(sessionmaker, order["id"])
    assert "debit_withdrawn" in events and "debit_paid" not in events
    mail = await _mail(inbox, "a été annulée")
    assert "a été annulée" in mail and "Aucune échéance ne sera plus prélevée" in mail
    handle = temporal_client.get_workflow_handle(workflow_id(order["id"]))
    assert await handle.result() == "canceled"
    save_history("order_canceled_mail", await handle.fetch_history())
