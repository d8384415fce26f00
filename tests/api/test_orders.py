"""The order tunnel through the API, with the real order workflow on the
Temporal dev server and a worker built from worker.REGISTRY."""

from __future__ import annotations

import asyncio
import csv
import email
import email.policy
import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from api.app import create_app
from domain.catalog import ProductType
from domain.orders import NewOrder
from domain.vouchers import UnusableVoucher
from models.orders import Order, OrderEvent
from services import orders as order_services
from tests.api.tunnel import ADDRESS
from tests.conftest import ClientFor
from tests.factories import Factory
from tests.workflows.histories import save_history
from workflows.order import workflow_id


@pytest.fixture
async def app(settings, temporal_env, worker, sessionmaker):
    """The API talking to the dev server, whose worker serves this test's queue."""
    target = temporal_env.client.service_client.config.target_host
    application = create_app(settings.model_copy(update={"temporal_address": target}))
    async with application.router.lifespan_context(application):
        yield application


async def _offering(
    factory: Factory,
    *,
    price: str = "450.00",
    contract: bool = False,
    product_type: ProductType = ProductType.CREDENTIAL,
    dated: bool = True,
    organizations: int = 1,
):
    orgs = [await factory.organization() for _ in range(organizations)]
    course = await factory.course(organizations=orgs)
    start = datetime.now(UTC) + timedelta(days=60)
    fields = (
        {"start": start, "end": start + timedelta(days=120)}
        if dated
        else {"start": None, "end": None}
    )
    run = await factory.course_run(course=course, **fields)
    product = await factory.product(
        type=product_type,
        price=price,
        contract_required=contract,
        target_course_runs=[run] if product_type is not ProductType.CERTIFICATE else [],
    )
    return await factory.offering(course=course, product=product, organizations=orgs)


@pytest.fixture
def tunnel_with(settings, temporal_env, temporal_client, sessionmaker, task_queue: str):
    """`async with tunnel_with(sub=..., **overrides) as client`: the API and a
    worker with other settings (a payment or mail backend)."""
    from tests.conftest import token_for
    from worker import WorkerDeps, build_worker

    @asynccontextmanager
    async def tunnel(
        *, sub: str, roles: tuple[str, ...] = (), **overrides: object
    ) -> AsyncIterator[httpx.AsyncClient]:
        changed = settings.model_copy(
            update={"temporal_address": temporal_env.client.service_client.config.target_host}
            | overrides
        )
        application = create_app(changed)
        headers = {"Authorization": f"Bearer {token_for(sub=sub, roles=list(roles))}"}
        async with (
            build_worker(
                temporal_client,
                WorkerDeps(settings=changed, sessionmaker=sessionmaker),
                task_queue=task_queue,
            ),
            application.router.lifespan_context(application),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=application), base_url="http://t", headers=headers
            ) as client,
        ):
            yield client

    return tunnel


async def _create(client: httpx.AsyncClient, offering, **body) -> httpx.Response:
    headers = {"Idempotency-Key": body.pop("key")} if "key" in body else {}
    payload = {"offering_id": str(offering.id)} | body
    return await client.post("/api/v1/orders", json=payload, headers=headers)


async def _events(sessionmaker, order_id: str) -> list[tuple[str, str | None]]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(OrderEvent.type, OrderEvent.to_state)
            .where(OrderEvent.order_id == uuid.UUID(order_id))
            .order_by(OrderEvent.at, OrderEvent.id)
        )
        return [tuple(row) for row in rows.all()]


async def test_free_product_without_contract_completes_at_once(
    learner: httpx.AsyncClient, factory: Factory, sessionmaker, temporal_client
) -> None:
    offering = await _offering(factory, price="0.00")
    response = await _create(learner, offering)
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["state"] == "completed"
    assert order["total"] == "0.00"
    assert order["payment_schedule"] == []
    events = await _events(sessionmaker, order["id"])
    assert [event for event, _ in events] == ["created", "assigned", "created"]
    assert [state for _, state in events] == ["draft", "assigned", "completed"]
    handle = temporal_client.get_workflow_handle(workflow_id(order["id"]))
    assert await handle.result() == "completed"
    # A credential gives access to its course runs at once.
    (enrollment,) = (await learner.get("/api/v1/enrollments")).json()["results"]
    assert enrollment["is_active"] is True
    save_history("order_free_enrolled", await handle.fetch_history())


async def test_paid_order_reaches_pending_with_its_schedule(
    learner: httpx.AsyncClient, factory: Factory, temporal_client
) -> None:
    offering = await _offering(factory, price="450.00")
    created = await _create(learner, offering, billing_address=ADDRESS)
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["state"] == "to_save_payment_method"
    assert order["payment_method"] is None
    assert order["organization"]["id"] == str(offering.organizations[0].id)

    saved = await learner.post(
        f"/api/v1/orders/{order['id']}/payment-method", json={"payment_method_id": "pm_card_visa"}
    )
    assert saved.status_code == 200, saved.text
    pending = saved.json()
    assert pending["state"] == "pending"
    assert pending["payment_method"] == {
        "brand": "visa",
        "last4": "4242",
        "exp_month": 12,
        "exp_year": 2034,
    }
    schedule = pending["payment_schedule"]
    assert [item["amount"] for item in schedule] == ["135.00", "157.50", "157.50"]
    assert all(item["state"] == "pending" for item in schedule)
    assert schedule == sorted(schedule, key=lambda item: item["due_date"])
    assert (await learner.get(f"/api/v1/orders/{order['id']}")).json() == pending
    handle = temporal_client.get_workflow_handle(workflow_id(order["id"]))
    save_history("order_pending", await handle.fetch_history())


async def test_contract_product_waits_for_signature_and_card(
    learner: httpx.AsyncClient, factory: Factory
) -> None:
    offering = await _offering(factory, contract=True)
    order = (await _create(learner, offering, billing_address=ADDRESS)).json()
    assert order["state"] == "to_sign_and_to_save_payment_method"
    assert order["contract"]["submitted_for_signature_on"] is None
    saved = await learner.post(
        f"/api/v1/orders/{order['id']}/payment-method", json={"payment_method_id": "pm_card_visa"}
    )
    assert saved.json()["state"] == "to_sign"


async def test_bad_card_token_changes_nothing(
    learner: httpx.AsyncClient, factory: Factory, sessionmaker
) -> None:
    offering = await _offering(factory)
    order = (await _create(learner, offering, billing_address=ADDRESS)).json()
    events_before = await _events(sessionmaker, order["id"])
    refused = await learner.post(
        f"/api/v1/orders/{order['id']}/payment-method", json={"payment_method_id": "pm_bogus"}
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_payment_method"
    after = (await learner.get(f"/api/v1/orders/{order['id']}")).json()
    assert after["state"] == "to_save_payment_method"
    assert after["payment_method"] is None
    assert await _events(sessionmaker, order["id"]) == events_before


async def test_bad_orders_are_refused_before_any_workflow(
    learner: httpx.AsyncClient, factory: Factory, sessionmaker
) -> None:
    offering = await _offering(factory)
    no_address = await _create(learner, offering)
    assert no_address.status_code == 422
    assert no_address.json()["error"]["code"] == "billing_address_required"
    undated = await _offering(factory, dated=False)
    missing_dates = await _create(learner, undated, billing_address=ADDRESS)
    assert missing_dates.status_code == 422
    assert missing_dates.json()["error"]["code"] == "course_dates_missing"
    stranger = await factory.organization()
    wrong_org = await _create(
        learner, offering, billing_address=ADDRESS, organization_id=str(stranger.id)
    )
    assert wrong_org.status_code == 400
    assert wrong_org.json()["error"]["code"] == "organization_not_in_offering"
    unknown = await learner.post("/api/v1/orders", json={"offering_id": str(uuid.uuid4())})
    assert unknown.status_code == 404
    both = await learner.post(
        "/api/v1/orders",
        json={
            "offering_id": str(offering.id),
            "product_id": str(offering.product_id),
            "course_code": "X",
        },
    )
    assert both.status_code == 422
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == 0


async def test_order_by_product_and_course_code(
    learner: httpx.AsyncClient, factory: Factory
) -> None:
    offering = await _offering(factory, price="0.00")
    response = await learner.post(
        "/api/v1/orders",
        json={"product_id": str(offering.product_id), "course_code": offering.course.code},
    )
    assert response.status_code == 201
    assert response.json()["offering"]["id"] == str(offering.id)


async def test_concurrent_creates_with_one_key_make_one_order(
    learner: httpx.AsyncClient, factory: Factory, sessionmaker
) -> None:
    offering = await _offering(factory)
    responses = await asyncio.gather(
        *(_create(learner, offering, billing_address=ADDRESS, key="checkout-1") for _ in range(5))
    )
    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["id"] for response in responses}) == 1
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == 1
    # The same key later still returns that order.
    again = await _create(learner, offering, billing_address=ADDRESS, key="checkout-1")
    assert again.json()["id"] == responses[0].json()["id"]


async def test_a_key_reused_with_another_body_is_refused(
    learner: httpx.AsyncClient, factory: Factory, sessionmaker
) -> None:
    """Stripe's rule: an Idempotency-Key answers the same order only to the
    same request; another offering (or address) under it is a client bug."""
    first, second = await _offering(factory), await _offering(factory)
    created = await _create(learner, first, billing_address=ADDRESS, key="basket-7")
    assert created.status_code == 201, created.text
    other_offering = await _create(learner, second, billing_address=ADDRESS, key="basket-7")
    assert other_offering.status_code == 422, other_offering.text
    assert other_offering.json()["error"]["code"] == "idempotency_key_reused"
    moved = ADDRESS | {"city": "Lyon"}
    other_address = await _create(learner, first, billing_address=moved, key="basket-7")
    assert other_address.json()["error"]["code"] == "idempotency_key_reused"
    same = await _create(learner, first, billing_address=ADDRESS, key="basket-7")
    assert (same.status_code, same.json()["id"]) == (201, created.json()["id"])
    # Concurrent first uses of a key with two bodies: one order, the other refused.
    third = await _offering(factory)
    racing = await asyncio.gather(
        _create(learner, third, billing_address=ADDRESS, key="basket-8"),
        _create(learner, third, billing_address=moved, key="basket-8"),
    )
    assert sorted(response.status_code for response in racing) == [201, 422]
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == 2


async def test_one_active_order_per_learner_and_offering(
    learner: httpx.AsyncClient, client_for: ClientFor, factory: Factory
) -> None:
    offering = await _offering(factory)
    first = (await _create(learner, offering, billing_address=ADDRESS)).json()
    second = await _create(learner, offering, billing_address=ADDRESS)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "order_exists"
    assert second.json()["error"]["details"] == {"order_id": first["id"]}
    other = await client_for(sub="learner-2")
    assert (await _create(other, offering, billing_address=ADDRESS)).status_code == 201
    await learner.post(f"/api/v1/orders/{first['id']}/cancel")
    assert (await _create(learner, offering, billing_address=ADDRESS)).status_code == 201


async def test_cancel(learner: httpx.AsyncClient, factory: Factory, sessionmaker) -> None:
    offering = await _offering(factory)
    order = (await _create(learner, offering, billing_address=ADDRESS)).json()
    canceled = await learner.post(f"/api/v1/orders/{order['id']}/cancel")
    assert canceled.status_code == 200
    assert canceled.json()["state"] == "canceled"
    again = await learner.post(f"/api/v1/orders/{order['id']}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "order_not_cancelable"
    free = (await _create(learner, await _offering(factory, price="0.00"))).json()
    completed = await learner.post(f"/api/v1/orders/{free['id']}/cancel")
    assert completed.status_code == 409
    assert completed.json()["error"]["code"] == "order_completed"
    assert ("canceled", "canceled") in await _events(sessionmaker, order["id"])


async def test_admin_cancels_any_order(
    learner: httpx.AsyncClient, admin: httpx.AsyncClient, factory: Factory
) -> None:
    order = (await _create(learner, await _offering(factory), billing_address=ADDRESS)).json()
    assert (await learner.post(f"/api/v1/admin/orders/{order['id']}/cancel")).status_code == 403
    response = await admin.post(f"/api/v1/admin/orders/{order['id']}/cancel")
    assert response.status_code == 200
    assert response.json()["state"] == "canceled"


async def test_learners_only_see_their_own_orders(
    learner: httpx.AsyncClient, client_for: ClientFor, factory: Factory
) -> None:
    order = (await _create(learner, await _offering(factory), billing_address=ADDRESS)).json()
    other = await client_for(sub="learner-2")
    assert (await other.get(f"/api/v1/orders/{order['id']}")).status_code == 404
    assert (await other.post(f"/api/v1/orders/{order['id']}/cancel")).status_code == 404
    card = await other.post(
        f"/api/v1/orders/{order['id']}/payment-method", json={"payment_method_id": "pm_card_visa"}
    )
    assert card.status_code == 404
    assert (await other.get("/api/v1/orders")).json()["count"] == 0
    mine = (await learner.get("/api/v1/orders")).json()
    assert [item["id"] for item in mine["results"]] == [order["id"]]
    anonymous = httpx.AsyncClient(transport=learner._transport, base_url="http://test")
    assert (await anonymous.get("/api/v1/orders")).status_code == 401


async def test_least_busy_organization_is_assigned(client_for: ClientFor, factory: Factory) -> None:
    offering = await _offering(factory, price="0.00", organizations=2)
    assigned = []
    for index in range(4):
        client = await client_for(sub=f"learner-{index}")
        assigned.append((await _create(client, offering)).json()["organization"]["id"])
    assert sorted(assigned.count(item.id.__str__()) for item in offering.organizations) == [2, 2]


async def test_vouchers_on_orders(
    learner: httpx.AsyncClient, client_for: ClientFor, factory: Factory
) -> None:
    offering = await _offering(factory, price="450.00")
    other_offering = await _offering(factory)
    invalid = await _create(learner, offering, billing_address=ADDRESS, voucher_code="NOPE")
    assert invalid.status_code == 400
    assert invalid.json()["error"]["code"] == "invalid_voucher"
    elsewhere = await factory.voucher(rate="0.1", offering=other_offering)
    wrong = await _create(learner, offering, billing_address=ADDRESS, voucher_code=elsewhere.code)
    assert wrong.json()["error"]["code"] == "voucher_not_valid_for_offering"

    single = await factory.voucher(rate="0.2")
    used = await _create(
        await client_for(sub="learner-2"),
        offering,
        billing_address=ADDRESS,
        voucher_code=single.code.lower(),
    )
    assert used.status_code == 201
    assert used.json()["discount"] == "90.00"
    assert used.json()["total"] == "360.00"
    assert used.json()["voucher_code"] == single.code
    again = await _create(learner, offering, billing_address=ADDRESS, voucher_code=single.code)
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "unusable_voucher"

    full = await factory.voucher(rate="1")
    free = await _create(learner, offering, voucher_code=full.code)
    assert free.status_code == 201, free.text
    assert free.json()["state"] == "completed"


async def test_canceling_a_full_voucher_order_retires_the_voucher(
    learner: httpx.AsyncClient, client_for: ClientFor, factory: Factory
) -> None:
    offering = await _offering(factory, contract=True)
    full = await factory.voucher(rate="1")
    order = (await _create(learner, offering, voucher_code=full.code)).json()
    assert order["state"] == "to_sign"
    await learner.post(f"/api/v1/orders/{order['id']}/cancel")
    other = await client_for(sub="learner-2")
    retry = await _create(other, offering, voucher_code=full.code)
    assert retry.status_code == 400
    assert retry.json()["error"]["code"] == "invalid_voucher"


async def test_voucher_guesses_on_the_payment_plan_are_throttled(
    settings, sessionmaker, factory: Factory
) -> None:
    """Per client IP, GUICHET_VOUCHER_LOOKUP_RATE_LIMIT: the public plan can no
    longer test hundreds of codes a second; plans without a code are not counted."""
    offering = await _offering(factory, price="450.00")
    limited = create_app(settings.model_copy(update={"voucher_lookup_rate_limit": "3/day"}))
    url = f"/api/v1/offerings/{offering.id}/payment-plan"
    async with (
        limited.router.lifespan_context(limited),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=limited), base_url="http://t") as ip,
    ):
        guesses = [
            (await ip.get(url, params={"voucher_code": f"GUESS{n}"})).status_code for n in range(4)
        ]
        plain = await ip.get(url)
    assert guesses == [400, 400, 400, 429]
    assert plain.status_code == 200


async def test_payment_plan(anonymous: httpx.AsyncClient, factory: Factory) -> None:
    offering = await _offering(factory, price="450.00")
    plan = (await anonymous.get(f"/api/v1/offerings/{offering.id}/payment-plan")).json()
    assert plan["price"] == "450.00"
    assert plan["discount"] == "0.00"
    assert plan["discounted_price"] == "450.00"
    assert plan["currency"] == "EUR"
    assert [item["amount"] for item in plan["payment_schedule"]] == ["135.00", "157.50", "157.50"]
    assert plan["skip_contract_inputs"] is False
    voucher = await factory.voucher(amount="50.00")
    discounted = await anonymous.get(
        f"/api/v1/offerings/{offering.id}/payment-plan", params={"voucher_code": voucher.code}
    )
    assert discounted.json()["discounted_price"] == "400.00"
    bad = await anonymous.get(
        f"/api/v1/offerings/{offering.id}/payment-plan", params={"voucher_code": "NOPE"}
    )
    assert bad.json()["error"]["code"] == "invalid_voucher"
    certificate = await _offering(factory, price="49.00", product_type=ProductType.CERTIFICATE)
    single = (await anonymous.get(f"/api/v1/offerings/{certificate.id}/payment-plan")).json()
    assert [item["amount"] for item in single["payment_schedule"]] == ["49.00"]


async def test_stuck_order_is_canceled_by_its_timer(
    settings, temporal_env, worker, factory: Factory, sessionmaker
) -> None:
    target = temporal_env.client.service_client.config.target_host
    quick = settings.model_copy(
        update={"temporal_address": target, "order_stuck_timeout": timedelta(seconds=2)}
    )
    application = create_app(quick)
    from tests.conftest import token_for

    headers = {"Authorization": f"Bearer {token_for(sub='slow-learner', roles=[])}"}
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://t", headers=headers
        ) as client,
    ):
        order = (await _create(client, await _offering(factory), billing_address=ADDRESS)).json()
        assert order["state"] == "to_save_payment_method"
        handle = temporal_env.client.get_workflow_handle(workflow_id(order["id"]))
        assert await asyncio.wait_for(handle.result(), 30) == "canceled"
        final = (await client.get(f"/api/v1/orders/{order['id']}")).json()
    assert final["state"] == "canceled"
    events = await _events(sessionmaker, order["id"])
    assert events[-1] == ("canceled", "canceled")
    save_history("order_stuck", await handle.fetch_history())


# --- prepaid seats (standalone and bulk sales) -------------------------------------


async def _seats(admin: httpx.AsyncClient, offering, count: int = 1) -> list[dict]:
    response = await admin.post(
        "/api/v1/admin/orders",
        json={
            "product_id": str(offering.product_id),
            "course_code": offering.course.code,
            "count": count,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_prepaid_seats_with_an_idempotency_key_are_made_once(
    admin: httpx.AsyncClient, client_for: ClientFor, factory: Factory, sessionmaker
) -> None:
    """Retried, and retried while the first call still runs: the same seats,
    never new ones; the same key for another body is refused."""
    offering = await _offering(factory)
    body = {"product_id": str(offering.product_id), "course_code": offering.course.code}
    headers = {"Idempotency-Key": "bulk-2026-12"}

    async def post(count: int, client: httpx.AsyncClient = admin) -> httpx.Response:
        return await client.post(
            "/api/v1/admin/orders", json=body | {"count": count}, headers=headers
        )

    first, concurrent = await asyncio.gather(post(3), post(3))
    assert {first.status_code, concurrent.status_code} <= {200, 201}
    made = [seat["id"] for seat in first.json()]
    assert sorted(made) == sorted(seat["id"] for seat in concurrent.json())
    again = await post(3)
    assert again.status_code == 200
    assert [seat["id"] for seat in again.json()] == made
    assert [seat["voucher"]["code"] for seat in again.json()] == [
        seat["voucher"]["code"] for seat in first.json()
    ]
    other_body = await post(4)
    assert (other_body.status_code, other_body.json()["error"]["code"]) == (
        422,
        "idempotency_key_reused",
    )
    # Another admin's key is theirs alone.
    colleague = await client_for(sub="admin-2", roles=["admin"])
    theirs = await post(3, colleague)
    assert theirs.status_code == 201 and not set(made) & {seat["id"] for seat in theirs.json()}
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(Order).where(Order.owner_id.is_(None))
        )
    assert count == 6


async def test_a_seats_voucher_is_emailed_once_until_claimed(
    tunnel_with, smtp, factory: Factory, temporal_client
) -> None:
    inbox, port = smtp
    offering = await _offering(factory, price="1200.00")
    async with tunnel_with(
        sub="seat-admin",
        roles=("admin",),
        mail_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
    ) as admin:
        (seat,) = await _seats(admin, offering)
        path = f"/api/v1/admin/orders/{seat['id']}/voucher-email"
        to = {"email": "grace@example.org", "name": "Grace Hopper"}
        assert (await admin.post(path, json={"email": "not an address"})).status_code == 422
        first = await admin.post(path, json=to)
        assert first.status_code == 200, first.text
        assert first.json() == {"sent": True}
        assert (await admin.post(path, json=to)).json() == {"sent": False}
        (message,) = inbox.messages
        assert message["To"] == "grace@example.org"
        assert offering.product.title in str(message["Subject"])
        body = message.get_body(("plain",)).get_content()
        assert seat["voucher"]["code"] in body and "Grace Hopper" in body
        canceled = await admin.post(f"/api/v1/admin/orders/{seat['id']}/cancel")
        assert canceled.json()["state"] == "canceled"
        late = await admin.post(path, json=to)
        assert late.status_code == 409
        assert late.json()["error"]["code"] == "voucher_already_claimed"
        handle = temporal_client.get_workflow_handle(workflow_id(seat["id"]))
        assert await handle.result() == "canceled"
    assert len(inbox.messages) == 1
    save_history("order_voucher_email", await handle.fetch_history())


async def test_prepaid_seats_are_claimed_with_their_voucher(
    admin: httpx.AsyncClient,
    learner: httpx.AsyncClient,
    client_for: ClientFor,
    factory: Factory,
    temporal_client,
) -> None:
    offering = await _offering(factory, price="1200.00", contract=True)
    seats = await _seats(admin, offering, count=3)
    assert len(seats) == 3
    assert {seat["state"] for seat in seats} == {"to_own"}
    assert all(seat["owner_id"] is None and seat["total"] == "0.00" for seat in seats)
    codes = [seat["voucher"]["code"] for seat in seats]
    assert len(set(codes)) == 3
    assert all(
        len(code) == 20 and seat["voucher"]["is_used"] is False
        for code, seat in zip(codes, seats, strict=True)
    )
    plan = (
        await learner.get(
            f"/api/v1/offerings/{offering.id}/payment-plan", params={"voucher_code": codes[0]}
        )
    ).json()
    assert plan["skip_contract_inputs"] is True
    assert plan["discounted_price"] == "0.00"

    claimed = await _create(learner, offering, voucher_code=codes[0].lower())
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["id"] == seats[0]["id"]
    assert claimed.json()["state"] == "completed"
    assert (await _create(learner, offering, voucher_code=codes[0])).status_code == 200

    other = await client_for(sub="learner-2")
    used = await _create(other, offering, voucher_code=codes[0])
    assert used.status_code == 400
    assert used.json()["error"]["code"] == "unusable_voucher"
    assert used.json()["error"]["details"] == {"reason": "already_used"}
    # The seats' vouchers are read in the vouchers administration, changed only with their order.
    listed = (await admin.get("/api/v1/admin/vouchers", params={"kind": "prepaid_seat"})).json()
    assert sorted(item["code"] for item in listed["results"]) == sorted(codes)
    assert {item["kind"] for item in listed["results"]} == {"prepaid_seat"}
    kept = await admin.patch(
        f"/api/v1/admin/vouchers/{listed['results'][0]['id']}", json={"is_active": False}
    )
    assert kept.status_code == 409
    assert kept.json()["error"]["code"] == "voucher_of_prepaid_seat"
    elsewhere = await _offering(factory)
    wrong = await other.post(
        "/api/v1/orders", json={"offering_id": str(elsewhere.id), "voucher_code": codes[1]}
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "voucher_not_valid_for_offering"

    listed = (await admin.get("/api/v1/admin/orders", params={"voucher_code": codes[0]})).json()
    assert listed["count"] == 1
    assert listed["results"][0]["voucher"] == {"code": codes[0], "is_used": True}
    detail = (await admin.get(f"/api/v1/admin/orders/{seats[0]['id']}")).json()
    assert [event["type"] for event in detail["events"]] == [
        "created",
        "assigned",
        "created",
        "claimed",
        "claimed",
    ]
    assert detail["events"][-1]["to_state"] == "completed"
    handle = temporal_client.get_workflow_handle(workflow_id(seats[0]["id"]))
    assert await handle.result() == "completed"
    save_history("order_prepaid_claim", await handle.fetch_history())


async def test_a_canceled_seat_voucher_is_retired(
    admin: httpx.AsyncClient, learner: httpx.AsyncClient, factory: Factory
) -> None:
    offering = await _offering(factory)
    (seat,) = await _seats(admin, offering)
    canceled = await admin.post(f"/api/v1/admin/orders/{seat['id']}/cancel")
    assert canceled.json()["state"] == "canceled"
    claim = await _create(learner, offering, voucher_code=seat["voucher"]["code"])
    assert claim.status_code == 400
    assert claim.json()["error"]["code"] == "invalid_voucher"


async def test_concurrent_claims_of_one_seat(
    admin: httpx.AsyncClient, client_for: ClientFor, factory: Factory
) -> None:
    offering = await _offering(factory)
    (seat,) = await _seats(admin, offering)
    clients = [await client_for(sub=f"racer-{index}") for index in range(4)]
    responses = await asyncio.gather(
        *(_create(client, offering, voucher_code=seat["voucher"]["code"]) for client in clients)
    )
    assert sorted(response.status_code for response in responses) == [200, 400, 400, 400]


async def test_a_claim_that_loses_the_race_says_the_voucher_is_used(
    app, admin: httpx.AsyncClient, client_for: ClientFor, factory: Factory, sessionmaker
) -> None:
    """The race of concurrent claims, made deterministic: the loser read the
    seat free, the winner's claim then completed it and its workflow ended.
    The loser gets 400 unusable_voucher (it was 409 workflow_closed)."""
    offering = await _offering(factory)
    (seat,) = await _seats(admin, offering)
    async with sessionmaker() as session:
        stale = await session.get(Order, uuid.UUID(seat["id"]))
        assert stale is not None and stale.owner_id is None
        session.expunge(stale)  # as the loser read it, before the winner wrote
    async with sessionmaker() as session:
        winner = await client_for(sub="winner")
        won = await _create(winner, offering, voucher_code=seat["voucher"]["code"])
        assert won.status_code == 200, won.text
        handle = app.state.temporal.get_workflow_handle(workflow_id(seat["id"]))
        assert await handle.result() == "completed"
        loser = NewOrder(
            order_id=uuid.uuid4(),
            owner_id="loser",
            offering_id=offering.id,
            voucher_code=seat["voucher"]["code"],
        )
        with pytest.raises(UnusableVoucher):
            await order_services._claim(
                session=session,
                temporal=app.state.temporal,
                settings=app.state.settings,
                seat=stale,
                new=loser,
            )


async def test_admin_orders_csv(
    admin: httpx.AsyncClient, learner: httpx.AsyncClient, factory: Factory
) -> None:
    offering = await _offering(factory)
    seats = await _seats(admin, offering, count=2)
    paid = (await _create(learner, await _offering(factory), billing_address=ADDRESS)).json()
    await learner.post(
        f"/api/v1/orders/{paid['id']}/payment-method", json={"payment_method_id": "pm_card_visa"}
    )
    response = await admin.get("/api/v1/admin/orders.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:4] == ["id", "created_at", "state", "owner_id"]
    by_id = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert set(by_id) == {seats[0]["id"], seats[1]["id"], paid["id"]}
    assert by_id[seats[0]["id"]]["voucher_code"] == seats[0]["voucher"]["code"]
    assert by_id[seats[0]["id"]]["voucher_is_used"] == "no"
    assert by_id[paid["id"]]["card"] == "visa •••• 4242"
    assert "4242424242424242" not in response.text
    only_pending = await admin.get("/api/v1/admin/orders.csv", params={"state": "pending"})
    assert len(list(csv.reader(io.StringIO(only_pending.text)))) == 2


async def test_seat_creation_needs_a_course_when_ambiguous(
    admin: httpx.AsyncClient, factory: Factory
) -> None:
    product = await factory.product(type=ProductType.CERTIFICATE, price="30.00")
    await factory.offering(product=product)
    await factory.offering(product=product)
    response = await admin.post("/api/v1/admin/orders", json={"product_id": str(product.id)})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "course_code_required"
    too_many = await admin.post(
        "/api/v1/admin/orders", json={"product_id": str(product.id), "count": 1001}
    )
    assert too_many.status_code == 422


async def test_card_saved_with_stripe(tunnel_with, localstripe: str, factory: Factory) -> None:
    from pydantic import SecretStr

    async with tunnel_with(
        sub="stripe-learner",
        payment_backend="stripe",
        stripe_api_key=SecretStr("sk_test_guichet"),
        stripe_api_base=localstripe,
    ) as client:
        order = (await _create(client, await _offering(factory), billing_address=ADDRESS)).json()
        declined = await client.post(
            f"/api/v1/orders/{order['id']}/payment-method",
            json={"payment_method_id": "pm_card_visa_chargeDeclined"},
        )
        assert declined.status_code == 400
        saved = await client.post(
            f"/api/v1/orders/{order['id']}/payment-method",
            json={"payment_method_id": "pm_card_visa"},
        )
    assert saved.status_code == 200, saved.text
    assert saved.json()["state"] == "pending"
    assert saved.json()["payment_method"]["last4"] == "4242"


# --- emails -----------------------------------------------------------------------


async def test_order_confirmed_email_once_over_smtp(
    tunnel_with, settings, sessionmaker, temporal_client, smtp, factory: Factory
) -> None:
    from activities.emails import EmailActivities, EmailRequest
    from domain.emails import EmailKind
    from integrations.mail import mailer

    inbox, port = smtp
    async with tunnel_with(
        sub="mail-learner", mail_backend="smtp", smtp_host="127.0.0.1", smtp_port=port
    ) as client:
        order = (await _create(client, await _offering(factory, price="0.00"))).json()
        handle = temporal_client.get_workflow_handle(workflow_id(order["id"]))
        assert await handle.result() == "completed"
    (message,) = inbox.messages
    assert message["To"] == "mail-learner@example.org"
    assert "est confirmée" in message["Subject"]
    save_history("order_confirmed_email", await handle.fetch_history())
    # The activity run again (a retry) sends nothing more.
    smtp_settings = settings.model_copy(
        update={"mail_backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port}
    )
    again = EmailActivities(sessionmaker=sessionmaker, mailer=mailer(smtp_settings))
    sent = await again.send(
        EmailRequest(order_id=uuid.UUID(order["id"]), kind=EmailKind.ORDER_CONFIRMED)
    )
    assert sent is False
    assert len(inbox.messages) == 1


async def test_paid_order_confirmation_lands_in_the_mail_folder(
    learner: httpx.AsyncClient, factory: Factory, settings
) -> None:
    order = (await _create(learner, await _offering(factory), billing_address=ADDRESS)).json()
    await learner.post(
        f"/api/v1/orders/{order['id']}/payment-method", json={"payment_method_id": "pm_card_visa"}
    )

    async def written() -> list:
        return list(settings.mail_dir.glob("*.eml"))

    for _ in range(100):
        if await written():
            break
        await asyncio.sleep(0.1)
    (path,) = await written()
    assert "450,00" in path.read_text(encoding="utf-8", errors="replace") or "450,00" in (
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        .get_body(("plain",))
        .get_content()
    )


async def test_mail_preview_only_in_dev_mode(
    anonymous: httpx.AsyncClient, settings, sessionmaker
) -> None:
    assert (await anonymous.get("/api/v1/dev/mail-preview/order_confirmed")).status_code == 404
    application = create_app(settings.model_copy(update={"dev_mode": True}))
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://t"
        ) as client,
    ):
        page = await client.get(
            "/api/v1/dev/mail-preview/installment_reminder", params={"lang": "en"}
        )
        assert page.status_code == 200
        assert "€157.50" in page.text
        text = await client.get(
            "/api/v1/dev/mail-preview/order_refunded", params={"format": "text"}
        )
        assert text.text.startswith("Subject: ")
        assert (await client.get("/api/v1/dev/mail-preview/nope")).status_code == 422
