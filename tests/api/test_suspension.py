"""The dunning grace period (spec 25): an installment still unpaid this long
after its first refusal suspends the order's enrollments (the LMS told, the
learner mailed, the order shows suspended_at); paying it gives them back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.api.test_action_required import _installment_in, _mail
from tests.api.test_dunning import _pay_path
from tests.api.test_installments import (  # noqa: F401 - fixtures
    _events,
    _until,
    inbox,
    lms,
    with_mail_and_lms,
)
from tests.api.test_orders import _create, app  # noqa: F401 - the API with a worker
from tests.api.tunnel import ADDRESS
from tests.conftest import SmtpInbox
from tests.factories import Factory
from tests.fakes.lms import FakeLms
from tests.workflows.histories import save_history
from workflows.order import workflow_id

GRACE = timedelta(seconds=2)


@pytest.fixture
def settings(settings, lms, smtp):  # noqa: F811
    return with_mail_and_lms(settings, lms, smtp).model_copy(update={"dunning_grace_period": GRACE})


async def _order_paid_once(learner: httpx.AsyncClient, factory: Factory) -> dict:
    """The first installment paid at once, the second due when the course
    starts (in seconds), the last at its end."""
    org = await factory.organization()
    course = await factory.course(organizations=[org])
    now = datetime.now(UTC)
    run = await factory.course_run(
        course=course, start=now + timedelta(seconds=8), end=now + timedelta(seconds=40)
    )
    product = await factory.product(price="450.00", target_course_runs=[run])
    offering = await factory.offering(course=course, product=product, organizations=[org])
    order = (await _create(learner, offering, billing_address=ADDRESS)).json()
    path = f"/api/v1/orders/{order['id']}/payment-method"
    assert (await learner.post(path, json={"payment_method_id": "pm_card_visa"})).is_success
    paid = await _installment_in(learner, order["id"], 0, "paid")
    # Then the card is reported lost: the next installment is refused for good.
    lost = await learner.post(path, json={"payment_method_id": "pm_card_chargeDeclinedLostCard"})
    assert lost.is_success, lost.text
    return paid


async def _lms_says(lms: FakeLms, active: list[bool], seconds: float = 20) -> None:  # noqa: F811
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if [item["is_active"] for item in lms.received] == active:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"the LMS heard {lms.received}, not {active}")


async def test_an_unpaid_installment_suspends_access_until_it_is_paid(
    learner: httpx.AsyncClient,
    factory: Factory,
    lms: FakeLms,  # noqa: F811
    inbox: SmtpInbox,  # noqa: F811
    sessionmaker,
    temporal_client,
) -> None:
    order = await _order_paid_once(learner, factory)
    await _lms_says(lms, [True])
    refused = await _until(learner, order["id"], "failed_payment", seconds=30)
    assert refused["suspended_at"] is None
    suspended = refused
    for _ in range(100):
        suspended = (await learner.get(f"/api/v1/orders/{order['id']}")).json()
        if suspended["suspended_at"]:
            break
        await asyncio.sleep(0.2)
    assert suspended["suspended_at"], "not suspended after the grace period"
    first_refusal = datetime.fromisoformat(suspended["suspended_at"]) - GRACE
    assert first_refusal <= datetime.now(UTC)
    await _lms_says(lms, [True, False])
    mail = await _mail(inbox, "Accès suspendu")
    second = refused["payment_schedule"][1]["id"]
    assert "reste impayée" in mail
    assert f"/orders/{order['id']}/installments/{second}/pay" in mail

    paid = await learner.post(_pay_path(refused, 1), json={"payment_method_id": "pm_card_visa"})
    assert (paid.status_code, paid.json()["state"]) == (200, "paid"), paid.text
    await _lms_says(lms, [True, False, True])
    back = (await learner.get(f"/api/v1/orders/{order['id']}")).json()
    assert back["state"] == "pending_payment" and back["suspended_at"] is None
    events = await _events(sessionmaker, order["id"])
    assert events.count("suspended") == 1 and events.count("reactivated") == 1
    await learner.post(f"/api/v1/orders/{order['id']}/cancel")
    handle = temporal_client.get_workflow_handle(workflow_id(order["id"]))
    assert await handle.result() == "canceled"
    save_history("order_suspended_then_paid", await handle.fetch_history())
