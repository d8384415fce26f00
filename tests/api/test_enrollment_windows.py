"""An order needs a session open for enrollment; a course run's dates are
sane (issue 14, item 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from models.catalog import CourseRun
from tests.api.test_orders import _create, app  # noqa: F401 - the API with a worker
from tests.api.tunnel import ADDRESS
from tests.factories import Factory


async def _offering_with_runs(factory: Factory, *runs: dict):
    org = await factory.organization()
    course = await factory.course(organizations=[org])
    made = [await factory.course_run(course=course, **fields) for fields in runs]
    product = await factory.product(price="300.00", target_course_runs=made)
    return await factory.offering(course=course, product=product, organizations=[org])


async def test_an_order_after_the_enrollment_end_is_refused(
    learner: httpx.AsyncClient, factory: Factory
) -> None:
    now = datetime.now(UTC)
    offering = await _offering_with_runs(
        factory,
        {
            "start": now + timedelta(days=10),
            "end": now + timedelta(days=40),
            "enrollment_end": now - timedelta(hours=1),
        },
    )
    refused = await _create(learner, offering, billing_address=ADDRESS)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "enrollment_closed"
    assert (await learner.get("/api/v1/orders")).json()["count"] == 0


async def test_one_open_session_is_enough(learner: httpx.AsyncClient, factory: Factory) -> None:
    now = datetime.now(UTC)
    offering = await _offering_with_runs(
        factory,
        {"start": now - timedelta(days=60), "end": now - timedelta(days=1)},  # over
        {
            "start": now + timedelta(days=20),
            "end": now + timedelta(days=50),
            "enrollment_start": now - timedelta(days=1),
        },
    )
    created = await _create(learner, offering, billing_address=ADDRESS)
    assert created.status_code == 201, created.text


async def test_an_order_before_the_enrollment_start_is_refused(
    learner: httpx.AsyncClient, factory: Factory
) -> None:
    now = datetime.now(UTC)
    offering = await _offering_with_runs(
        factory,
        {
            "start": now + timedelta(days=60),
            "end": now + timedelta(days=90),
            "enrollment_start": now + timedelta(days=5),
        },
    )
    refused = await _create(learner, offering, billing_address=ADDRESS)
    assert refused.json()["error"]["code"] == "enrollment_closed"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("0001-01-01T00:00:00Z", "0001-01-02T00:00:00Z"),
        ("2027-01-01T00:00:00Z", "9999-12-31T00:00:00Z"),
        ("2027-02-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ("2027-02-01T00:00:00Z", "2027-02-01T00:00:00Z"),
    ],
)
async def test_insane_run_dates_are_refused(
    admin: httpx.AsyncClient, factory: Factory, start: str, end: str
) -> None:
    course = await factory.course()
    answer = await admin.post(
        "/api/v1/admin/course-runs",
        json={"course_id": str(course.id), "title": "Run", "start": start, "end": end},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_course_run_dates"


END_OF_CALENDAR = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


async def _legacy_offering(factory: Factory, sessionmaker, *, start: datetime):
    """An offering whose run was stored before the date checks existed,
    ending at the calendar's end."""
    org = await factory.organization()
    course = await factory.course(organizations=[org])
    async with sessionmaker.begin() as session:
        run = CourseRun(course_id=course.id, title="Legacy", start=start, end=END_OF_CALENDAR)
        session.add(run)
    product = await factory.product(price="450.00", target_course_runs=[run])
    return await factory.offering(course=course, product=product, organizations=[org])


async def test_an_open_ended_run_stored_before_the_date_checks_still_sells(
    learner: httpx.AsyncClient, factory: Factory, sessionmaker
) -> None:
    """An end at the calendar's end (an "open-ended" run) is read as the
    last sane date: the plan and the order's schedule agree, never a 500."""
    start = datetime.now(UTC) + timedelta(days=60)
    offering = await _legacy_offering(factory, sessionmaker, start=start)
    plan = await learner.get(f"/api/v1/offerings/{offering.id}/payment-plan")
    assert plan.status_code == 200, plan.text
    dues = [item["due_date"] for item in plan.json()["payment_schedule"]]
    assert len(dues) == 3 and dues == sorted(dues) and dues[-1] < "2200-12-31"
    created = await _create(learner, offering, billing_address=ADDRESS)
    assert created.status_code == 201, created.text
    path = f"/api/v1/orders/{created.json()['id']}/payment-method"
    order = (await learner.post(path, json={"payment_method_id": "pm_card_visa"})).json()
    assert order["state"] == "pending", order
    assert [item["due_date"] for item in order["payment_schedule"]] == dues


async def test_a_run_stored_in_year_9999_is_a_422_not_a_500(
    learner: httpx.AsyncClient, factory: Factory, sessionmaker
) -> None:
    """A start out of the sane years gives no schedule: 422
    course_dates_missing on the plan and on the order, nothing written."""
    start = datetime(9999, 12, 1, tzinfo=UTC)
    offering = await _legacy_offering(factory, sessionmaker, start=start)
    plan = await learner.get(f"/api/v1/offerings/{offering.id}/payment-plan")
    assert plan.status_code == 422, plan.text
    assert plan.json()["error"]["code"] == "course_dates_missing"
    created = await _create(learner, offering, billing_address=ADDRESS)
    assert created.status_code == 422, created.text
    assert created.json()["error"]["code"] == "course_dates_missing"
    assert (await learner.get("/api/v1/orders")).json()["count"] == 0
