"""Cards saved under strong customer authentication on the embedded stack:
a setup, the dummy bank's challenge, the card saved by the learner or by the
provider's news when the learner closed the tab."""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import urlsplit

import httpx

from integrations.payloads import SIGNATURE_HEADER, sign_body
from tests.api.test_installments import _until
from tests.api.test_orders import _create, _offering, app  # noqa: F401 - the API with a worker
from tests.api.test_payment_webhooks import SECRET
from tests.api.tunnel import ADDRESS
from tests.conftest import ClientFor
from tests.factories import Factory
from tests.workflows.histories import save_history
from workflows.order import workflow_id

CHALLENGED = "pm_card_authenticationRequiredOnSetup"


async def _waiting_order(learner: httpx.AsyncClient, factory: Factory) -> dict:
    created = await _create(learner, await _offering(factory), billing_address=ADDRESS)
    assert created.json()["state"] == "to_save_payment_method", created.text
    return created.json()


async def _setup(learner: httpx.AsyncClient, order: dict, token: str) -> httpx.Response:
    return await learner.post(
        f"/api/v1/orders/{order['id']}/payment-method/setup", json={"payment_method_id": token}
    )


async def _bring_back(learner: httpx.AsyncClient, order: dict, reference: str) -> httpx.Response:
    return await learner.post(
        f"/api/v1/orders/{order['id']}/payment-method", json={"setup_reference": reference}
    )


async def _answer_challenge(browser: httpx.AsyncClient, url: str, action: str) -> str:
    parts = urlsplit(url)
    page = await browser.get(f"{parts.path}?{parts.query}")
    assert page.status_code == 200 and 'value="authenticate"' in page.text
    key = re.search(r'name="key" value="([0-9a-f]+)"', page.text).group(1)
    answered = await browser.post(parts.path, data={"key": key, "action": action})
    assert answered.status_code == 200, answered.text
    return answered.text


async def test_a_card_without_a_challenge_is_saved_from_its_setup(
    learner: httpx.AsyncClient, factory: Factory
) -> None:
    order = await _waiting_order(learner, factory)
    setup = await _setup(learner, order, "pm_card_visa")
    assert setup.status_code == 201, setup.text
    body = setup.json()
    assert body["provider"] == "dummy" and body["next_action_url"] is None
    assert body["client_secret"].startswith(body["setup_reference"])
    saved = await _bring_back(learner, order, body["setup_reference"])
    assert saved.status_code == 200, saved.text
    assert saved.json()["state"] == "pending"
    assert saved.json()["payment_method"]["last4"] == "4242"


async def test_a_challenged_card_waits_for_the_learner_then_saves_itself(
    learner: httpx.AsyncClient, anonymous: httpx.AsyncClient, factory: Factory, temporal_client
) -> None:
    """Authenticated on the bank's page, the learner closes the tab: the
    provider's news saves the card; bringing the setup back changes nothing more."""
    order = await _waiting_order(learner, factory)
    setup = (await _setup(learner, order, CHALLENGED)).json()
    assert setup["next_action_url"].startswith("http://")
    early = await _bring_back(learner, order, setup["setup_reference"])
    assert (early.status_code, early.json()["error"]["code"]) == (
        409,
        "payment_method_requires_authentication",
    )
    assert early.json()["error"]["details"]["next_action_url"] == setup["next_action_url"]
    assert (await learner.get(f"/api/v1/orders/{order['id']}")).json()["payment_method"] is None

    said = await _answer_challenge(anonymous, setup["next_action_url"], "authenticate")
    assert "the card is saved" in said
    pending = await _until(learner, order["id"], "pending", seconds=20)
    assert pending["payment_method"]["last4"] == "3155"
    again = await _bring_back(learner, order, setup["setup_reference"])
    assert again.status_code == 200 and again.json()["payment_method"]["last4"] == "3155"
    await learner.post(f"/api/v1/orders/{order['id']}/cancel")
    handle = temporal_client.get_workflow_handle(workflow_id(order["id"]))
    assert await handle.result() == "canceled"
    save_history("order_card_from_setup", await handle.fetch_history())


async def test_a_failed_challenge_saves_nothing(
    learner: httpx.AsyncClient, anonymous: httpx.AsyncClient, factory: Factory
) -> None:
    order = await _waiting_order(learner, factory)
    setup = (await _setup(learner, order, CHALLENGED)).json()
    await _answer_challenge(anonymous, setup["next_action_url"], "fail")
    refused = await _bring_back(learner, order, setup["setup_reference"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        400,
        "invalid_payment_method",
    )
    assert (await learner.get(f"/api/v1/orders/{order['id']}")).json()["state"] == (
        "to_save_payment_method"
    )


async def test_a_bare_token_the_bank_challenges_gives_the_setup_to_finish(
    learner: httpx.AsyncClient, anonymous: httpx.AsyncClient, factory: Factory
) -> None:
    order = await _waiting_order(learner, factory)
    answer = await learner.post(
        f"/api/v1/orders/{order['id']}/payment-method", json={"payment_method_id": CHALLENGED}
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (
        409,
        "payment_method_requires_authentication",
    )
    details = answer.json()["error"]["details"]
    await _answer_challenge(anonymous, details["next_action_url"], "authenticate")
    saved = await _bring_back(learner, order, details["setup_reference"])
    assert saved.status_code == 200 and saved.json()["state"] == "pending"


async def test_setups_belong_to_their_order_and_its_learner(
    learner: httpx.AsyncClient, client_for: ClientFor, factory: Factory, anonymous
) -> None:
    order = await _waiting_order(learner, factory)
    other = await client_for(sub="someone-else")
    assert (await _setup(other, order, "pm_card_visa")).status_code == 404
    mine = (await _setup(learner, order, "pm_card_visa")).json()
    second = await _waiting_order(other, factory)
    stolen = await _bring_back(other, second, mine["setup_reference"])
    assert (stolen.status_code, stolen.json()["error"]["code"]) == (400, "invalid_payment_method")
    unknown = await _setup(learner, order, "pm_nope")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (
        400,
        "invalid_payment_method",
    )
    # The challenge page opens only with its key.
    page = await anonymous.get(f"/api/v1/dummy-payments/setups/{mine['setup_reference']}")
    assert page.status_code == 404


async def test_the_providers_news_of_a_setup_saves_the_card_once(
    learner: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    factory: Factory,
) -> None:
    """The dummy backend's signed setup_succeeded event, as Stripe's
    setup_intent.succeeded: the card is saved; told twice, saved once."""
    order = await _waiting_order(learner, factory)
    setup = (await _setup(learner, order, "pm_card_mastercard")).json()
    for attempt in range(2):
        event = {
            "event_id": f"evt_{uuid.uuid4().hex}",
            "type": "setup_succeeded",
            "kind": "setup_succeeded",
            "setup_reference": setup["setup_reference"],
            "order_id": order["id"],
        }
        body = json.dumps(event).encode()
        delivered = await anonymous.post(
            "/api/v1/webhooks/payments/dummy",
            content=body,
            headers={SIGNATURE_HEADER: sign_body(SECRET, body)},
        )
        assert delivered.json() == {"status": "accepted"}, attempt
    pending = await _until(learner, order["id"], "pending", seconds=20)
    assert pending["payment_method"]["last4"] == "4444"
    detail = (await admin.get(f"/api/v1/admin/orders/{order['id']}")).json()
    # One card saved (the event of the save, then the transition it made).
    saved = [event for event in detail["events"] if event["type"] == "payment_method_saved"]
    assert [event["to_state"] for event in saved] == [None, "pending"]
