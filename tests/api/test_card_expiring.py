"""card_expiring (spec 25): the learner is told, GUICHET_CARD_EXPIRY_NOTICE
before the first installment their saved card expires before, once per
order and card."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from tests.api.test_action_required import _mail
from tests.api.test_installments import (  # noqa: F401 - fixtures
    inbox,
    lms,
    with_mail_and_lms,
)
from tests.api.test_orders import _create, _offering, app  # noqa: F401 - the API with a worker
from tests.api.tunnel import ADDRESS
from tests.conftest import SmtpInbox
from tests.factories import Factory
from tests.workflows.histories import save_history
from workflows.order import workflow_id

EXPIRING = "pm_card_expiresThisMonth"


@pytest.fixture
def settings(settings, lms, smtp):  # noqa: F811
    """A notice longer than the schedule: the mail is due at once."""
    return with_mail_and_lms(settings, lms, smtp).model_copy(
        update={"card_expiry_notice": timedelta(days=400)}
    )


def _end_of_this_month() -> date:
    today = datetime.now(UTC).date()
    following = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    return following - timedelta(days=1)


async def test_the_learner_is_told_once_that_the_card_expires_before_an_installment(
    learner: httpx.AsyncClient,
    factory: Factory,
    inbox: SmtpInbox,  # noqa: F811
    temporal_client,
) -> None:
    offering = await _offering(factory)  # the course starts in 60 days
    order = (await _create(learner, offering, billing_address=ADDRESS)).json()
    path = f"/api/v1/orders/{order['id']}/payment-method"
    saved = await learner.post(path, json={"payment_method_id": EXPIRING})
    assert saved.status_code == 200, saved.text
    schedule = saved.json()["payment_schedule"]
    first_after = next(
        index
        for index, item in enumerate(schedule)
        if date.fromisoformat(item["due_date"]) > _end_of_this_month()
    )
    mail = await _mail(inbox, "Votre carte expire")
    today = datetime.now(UTC)
    assert f"expire fin {today.month:02d}/{today.year}" in mail
    assert f"l'échéance {first_after + 1}/{len(schedule)}" in mail
    assert f"/orders/{order['id']}" in mail
    # The same card again, another, the first again: nothing more to say.
    for card in ("pm_card_visa", EXPIRING):
        assert (await learner.post(path, json={"payment_method_id": card})).is_success
    assert (await learner.post(f"/api/v1/orders/{order['id']}/cancel")).is_success
    await _mail(inbox, "a été annulée")
    subjects = [str(message["Subject"]) for message in inbox.messages]
    assert sum("Votre carte expire" in subject for subject in subjects) == 1
    handle = temporal_client.get_workflow_handle(workflow_id(order["id"]))
    assert await handle.result() == "canceled"
    save_history("order_card_expiring", await handle.fetch_history())
