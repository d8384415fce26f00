"""One schedule policy: the plan shown, the contract signed and the
installments debited are the same schedule, made with the settings of the
day the order was placed, over the course runs that have not ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from domain.payment_schedule import next_working_day, paris_day
from domain.signatures import Recipient
from tests.api.test_orders import _create, _offering

# The API on a loopback port with a worker: the dummy signature page is served there.
from tests.api.test_signatures import learner, live, settings  # noqa: F401
from tests.api.tunnel import ADDRESS, CARD, contract_of, sign, state_is, submit
from tests.factories import Factory

LIMITS = {200: [30, 70], 500: [30, 35, 35], 1000: [20, 30, 30, 20]}


def _dated(schedule: list[dict]) -> list[tuple[str, str]]:
    return [(item["due_date"], item["amount"]) for item in schedule]


@pytest.mark.signature_settings(payment_schedule_limits=LIMITS, withdrawal_period_days=20)
async def test_plan_contract_and_debits_are_one_schedule(
    learner: httpx.AsyncClient,  # noqa: F811
    factory: Factory,
) -> None:
    offering = await _offering(factory, price="999.99", contract=True)
    day_of_plan = paris_day(datetime.now(UTC))
    plan = (await learner.get(f"/api/v1/offerings/{offering.id}/payment-plan")).json()
    assert [item["amount"] for item in plan["payment_schedule"]] == [
        "200.00",
        "300.00",
        "300.00",
        "199.99",
    ]
    first_due = next_working_day(day_of_plan + timedelta(days=20))
    assert plan["payment_schedule"][0]["due_date"] == str(first_due)

    created = await _create(learner, offering, billing_address=ADDRESS)
    assert created.status_code == 201, created.text
    order = created.json()
    contract = (await learner.get(f"/api/v1/contracts/{order['contract']['id']}")).json()
    assert contract["context"]["schedule"] == [
        {"due_date": due_date, "amount": amount}
        for due_date, amount in _dated(plan["payment_schedule"])
    ]

    link = await submit(learner, order["id"])
    await sign(link, Recipient.STUDENT)
    await state_is(learner, order["id"], "to_save_payment_method")
    saved = await learner.post(f"/api/v1/orders/{order['id']}/payment-method", json=CARD)
    assert saved.status_code == 200, saved.text
    debited = saved.json()["payment_schedule"]
    assert [item["amount"] for item in debited] == ["200.00", "300.00", "300.00", "199.99"]
    signed_on = datetime.fromisoformat(
        (await contract_of(learner, order["id"]))["student_signed_on"]
    )
    if paris_day(signed_on) == day_of_plan:
        # Anchored at the signature: the same dates unless midnight fell between.
        assert _dated(debited) == _dated(plan["payment_schedule"])


async def test_an_ended_run_does_not_set_the_dates(
    learner: httpx.AsyncClient,  # noqa: F811
    factory: Factory,
) -> None:
    """A product still listing a past session: the learner keeps the
    withdrawal period, the second installment falls on the next run's start."""
    org = await factory.organization()
    course = await factory.course(organizations=[org])
    now = datetime.now(UTC)
    past = await factory.course_run(
        course=course, start=now - timedelta(days=100), end=now - timedelta(days=10)
    )
    future_start = now + timedelta(days=60)
    future = await factory.course_run(
        course=course, start=future_start, end=future_start + timedelta(days=90)
    )
    product = await factory.product(price="450.00", target_course_runs=[past, future])
    offering = await factory.offering(course=course, product=product, organizations=[org])

    plan = (await learner.get(f"/api/v1/offerings/{offering.id}/payment-plan")).json()
    order = (await _create(learner, offering, billing_address=ADDRESS)).json()
    saved = await learner.post(f"/api/v1/orders/{order['id']}/payment-method", json=CARD)
    assert saved.status_code == 200, saved.text
    schedule = saved.json()["payment_schedule"]
    first_due = next_working_day(paris_day(now) + timedelta(days=16))
    assert schedule[0]["due_date"] == str(first_due)
    assert schedule[1]["due_date"] == str(paris_day(future_start))
    assert [item["due_date"] for item in plan["payment_schedule"]] == [
        item["due_date"] for item in schedule
    ]
