"""Steps of the order tunnel shared by the signature tests: a learner orders
a contract product, submits it, signs on the provider's page."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from domain.signatures import Recipient
from integrations.signature.dummy import signer_key
from settings import Settings
from tests.conftest import TEST_JWT_SECRET
from tests.factories import Factory

ADDRESS = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "address": "1 rue de la Paix",
    "postcode": "75002",
    "city": "Paris",
    "country": "FR",
}
CARD = {"payment_method_id": "pm_card_visa"}


async def contract_order(
    learner: httpx.AsyncClient, factory: Factory, price: str = "450.00"
) -> dict:
    org = await factory.organization(
        signatories=[{"name": "Claire Martin", "email": "claire@univ.example"}]
    )
    course = await factory.course(organizations=[org])
    start = datetime.now(UTC) + timedelta(days=60)
    run = await factory.course_run(course=course, start=start, end=start + timedelta(days=90))
    product = await factory.product(price=price, contract_required=True, target_course_runs=[run])
    offering = await factory.offering(course=course, product=product, organizations=[org])
    body = {"offering_id": str(offering.id)}
    if price != "0.00":
        body["billing_address"] = ADDRESS
    response = await learner.post("/api/v1/orders", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def eventually(
    check: Callable[[], Awaitable[bool]], seconds: float = 20, what: str = "condition"
) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"{what} not reached within {seconds} s")


async def state_is(learner: httpx.AsyncClient, order_id: str, state: str) -> None:
    async def check() -> bool:
        return (await learner.get(f"/api/v1/orders/{order_id}")).json()["state"] == state

    await eventually(check, what=f"order {state}")


async def submit(learner: httpx.AsyncClient, order_id: str) -> str:
    response = await learner.post(f"/api/v1/orders/{order_id}/submit-for-signature")
    assert response.status_code == 200, response.text
    return response.json()["invitation_link"]


# The dummy provider's secret under the tests' settings (derived from the JWT secret).
DUMMY_SECRET = Settings(jwt_secret=SecretStr(TEST_JWT_SECRET)).dummy_signature_secret_value


async def sign(
    link: str, recipient: Recipient, action: str = "sign", *, secret: str = DUMMY_SECRET
) -> None:
    """A signer opens their invitation and clicks the button. The learner's
    link is `link`; the organization's (which the provider would email it)
    is made from it with the provider's secret."""
    url = link.split("?")[0]
    reference = url.rsplit("/", 1)[1]
    key = signer_key(secret=secret, reference=reference, recipient=recipient)
    async with httpx.AsyncClient(timeout=30) as browser:
        page = await browser.get(url, params={"signer": recipient.value, "key": key})
        assert page.status_code == 200, page.text
        assert "<form" in page.text
        done = await browser.post(
            url, data={"signer": recipient.value, "key": key, "action": action}
        )
        assert done.status_code == 200, done.text


async def contract_of(learner: httpx.AsyncClient, order_id: str) -> dict:
    return (await learner.get(f"/api/v1/orders/{order_id}")).json()["contract"]
