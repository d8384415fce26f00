"""The withdrawal button (spec 25, EU Directive 2023/2673): until the
deadline one call ends the order and gives the money back; the learner and
the organization's signatories are told."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from domain.orders import withdrawal_deadline
from models.orders import Order
from tests.api.test_action_required import _mail
from tests.api.test_installments import (  # noqa: F401 - fixtures
    _events,
    _paid_order,
    _until,
    inbox,
    lms,
    with_mail_and_lms,
)
from tests.api.test_orders import _create, _offering, app  # noqa: F401 - the API with a worker
from tests.api.tunnel import ADDRESS
from tests.conftest import SmtpInbox
from tests.factories import Factory


@pytest.fixture
def settings(settings, lms, smtp):  # noqa: F811
    return with_mail_and_lms(settings, lms, smtp)


def _copies(mailbox: SmtpInbox, subject: str) -> list[str]:
    return sorted(
        str(message["To"]) for message in mailbox.messages if subject in message["Subject"]
    )


async def test_withdrawing_before_anything_is_paid_cancels(
    learner: httpx.AsyncClient,
    factory: Factory,
    inbox: SmtpInbox,  # noqa: F811
) -> None:
    offering = await _offering(factory)
    order = (await _create(learner, offering, billing_address=ADDRESS)).json()
    created = datetime.fromisoformat(order["created_at"])
    assert datetime.fromisoformat(order["withdrawal_deadline"]) == withdrawal_deadline(
        anchor=created, days=16
    )
    withdrawn = await learner.post(f"/api/v1/orders/{order['id']}/withdraw")
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["state"] == "canceled"
    again = await learner.post(f"/api/v1/orders/{order['id']}/withdraw")
    assert (again.status_code, again.json()["state"]) == (200, "canceled")
    mail = await _mail(inbox, "Rétractation")
    assert "a fait l'objet d'une rétractation" in mail and "remboursés" not in mail
    # The learner, and the organization's signatory in copy; each once.
    await _mail(inbox, "Rétractation", containing="signer@example.org")
    assert len(_copies(inbox, "Rétractation")) == 2


async def test_withdrawing_after_a_payment_refunds_everything(
    learner: httpx.AsyncClient,
    factory: Factory,
    inbox: SmtpInbox,  # noqa: F811
    sessionmaker,
) -> None:
    order = await _paid_order(learner, factory, "pm_card_visa")
    await _until(learner, order["id"], "pending_payment")
    withdrawn = await learner.post(f"/api/v1/orders/{order['id']}/withdraw")
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["state"] in {"refunding", "refunded"}
    done = await _until(learner, order["id"], "refunded")
    assert [item["state"] for item in done["payment_schedule"]] == [
        "refunded",
        "canceled",
        "canceled",
    ]
    mail = await _mail(inbox, "Rétractation")
    assert "135,00\u00a0€ déjà payés sont remboursés" in mail
    events = await _events(sessionmaker, order["id"])
    assert events.count("installment_refunded") == 1


async def test_no_withdrawal_once_waived_or_past_the_deadline(
    learner: httpx.AsyncClient, factory: Factory, sessionmaker
) -> None:
    offering = await _offering(factory)
    waived = (
        await _create(learner, offering, billing_address=ADDRESS, has_waived_withdrawal_right=True)
    ).json()
    assert waived["withdrawal_deadline"] is None
    refused = await learner.post(f"/api/v1/orders/{waived['id']}/withdraw")
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        409,
        "withdrawal_period_over",
    )
    await learner.post(f"/api/v1/orders/{waived['id']}/cancel")
    late = (await _create(learner, offering, billing_address=ADDRESS)).json()
    async with sessionmaker.begin() as session:
        await session.execute(
            update(Order)
            .where(Order.id == uuid.UUID(late["id"]))
            .values(created_at=datetime.now(UTC) - timedelta(days=17))
        )
    refused = await learner.post(f"/api/v1/orders/{late['id']}/withdraw")
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        409,
        "withdrawal_period_over",
    )
    still = (await learner.get(f"/api/v1/orders/{late['id']}")).json()
    assert still["state"] == "to_save_payment_method"
