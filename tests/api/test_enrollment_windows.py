"""An order needs a session open for enrollment; a course run's dates are
sane (issue 14, item 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

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
