"""Wrong-state refusals: the same refusal has the same status and code
whatever the action or the moment, and the README's table says so."""

from __future__ import annotations

import importlib
import pkgutil
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

import services
from domain.errors import DomainError
from tests.api.test_orders import app  # noqa: F401 - the API with a worker
from tests.api.tunnel import ADDRESS, CARD
from tests.factories import Factory
from workflows.order import workflow_id

README = Path(__file__).resolve().parents[2] / "README.md"


async def _waiting_for_a_card(learner: httpx.AsyncClient, factory: Factory) -> dict:
    org = await factory.organization()
    course = await factory.course(organizations=[org])
    start = datetime.now(UTC) + timedelta(days=60)
    run = await factory.course_run(course=course, start=start, end=start + timedelta(days=90))
    product = await factory.product(price="450.00", target_course_runs=[run])
    offering = await factory.offering(course=course, product=product, organizations=[org])
    body = {"offering_id": str(offering.id), "billing_address": ADDRESS}
    created = await learner.post("/api/v1/orders", json=body)
    assert created.json()["state"] == "to_save_payment_method", created.text
    return created.json()


def _refusal(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


async def test_every_action_on_a_canceled_order_is_a_409_naming_the_action(
    learner: httpx.AsyncClient, admin: httpx.AsyncClient, factory: Factory
) -> None:
    """It was 409 to cancel it again but 422 to save a card on it."""
    order = await _waiting_for_a_card(learner, factory)
    path = f"/api/v1/orders/{order['id']}"
    assert (await learner.post(f"{path}/cancel")).json()["state"] == "canceled"

    assert _refusal(await learner.post(f"{path}/cancel")) == (409, "order_not_cancelable")
    card = await learner.post(f"{path}/payment-method", json=CARD)
    assert _refusal(card) == (409, "payment_method_not_accepted")
    submitted = await learner.post(f"{path}/submit-for-signature")
    assert _refusal(submitted) == (409, "order_not_signable")
    assert submitted.json()["error"]["message"] == "This order has no contract to sign."
    admin_path = f"/api/v1/admin/orders/{order['id']}"
    assert _refusal(await admin.post(f"{admin_path}/cancel")) == (409, "order_not_cancelable")
    assert _refusal(await admin.post(f"{admin_path}/refund")) == (409, "order_not_refundable")


async def test_an_order_whose_workflow_an_operator_ended_answers_409_workflow_closed(
    learner: httpx.AsyncClient, factory: Factory, temporal_client
) -> None:
    """The row still says the order waits for a card, but its process is
    gone: a clear 409, never a 500, and nothing written."""
    order = await _waiting_for_a_card(learner, factory)
    handle = temporal_client.get_workflow_handle(workflow_id(order["id"]))
    await handle.terminate(reason="operator")
    card = await learner.post(f"/api/v1/orders/{order['id']}/payment-method", json=CARD)
    assert _refusal(card) == (409, "workflow_closed")
    after = (await learner.get(f"/api/v1/orders/{order['id']}")).json()
    assert (after["state"], after["payment_method"]) == ("to_save_payment_method", None)


def _documented_refusals() -> list[tuple[str, int, str]]:
    """(action, status, code) of each row of the README's refusal table."""
    rows = re.findall(
        r"^\| (`[^|]+|any order action) \| [^|]+ \| (\d{3}) \| `([a-z_]+)` \|$",
        README.read_text(),
        flags=re.MULTILINE,
    )
    return [(action, int(status), code) for action, status, code in rows]


def _error_classes() -> dict[str, set[int]]:
    """Every DomainError code of the code base and its statuses."""
    for module in pkgutil.iter_modules(services.__path__):
        importlib.import_module(f"services.{module.name}")
    found: dict[str, set[int]] = {}
    pending = [DomainError]
    while pending:
        kind = pending.pop()
        pending.extend(kind.__subclasses__())
        found.setdefault(kind.code, set()).add(kind.status)
    return found


def test_the_readme_refusal_table_says_what_the_code_answers() -> None:
    documented = _documented_refusals()
    assert len(documented) >= 15
    classes = _error_classes()
    for action, status, code in documented:
        assert classes.get(code) == {status}, (action, code, classes.get(code))
