"""Academy products: the catalogue sync (a fake catalogue service and a fake
Stripe Prices API on loopback), the public throttled read API served from
the database, the schedule, and checkout intents fulfilled on Stripe's word."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select, text
from temporalio.client import WorkflowExecutionStatus

from api.app import create_app
from domain.academies import SCHEDULE_ID, IntentPaid, SyncInput, SyncResult
from models.academies import CheckoutIntent
from models.accounting import LedgerEntry
from models.subscriptions import AcademySubscription
from settings import AcademyPriceSource, PaymentBackend
from tests.api.test_payments_stripe import _post, _signed
from tests.conftest import build_test_worker, token_for
from tests.fakes import serve
from tests.fakes.catalog_service import FakeCatalogService, academy
from tests.fakes.stripe_billing import FakeStripeBilling
from tests.fakes.stripe_prices import price
from tests.workflows.histories import save_history
from worker import ensure_catalog_schedule
from workflows.academy import CatalogSyncWorkflow

WEBHOOK_SECRET = "whsec_academies"
# A source down is given up after two tries a second apart (production: ~30 s).
QUICK_GIVE_UP = SyncInput(source_attempts=2, source_max_interval=timedelta(seconds=1))


@pytest.fixture
async def catalogue() -> AsyncIterator[FakeCatalogService]:
    fake = FakeCatalogService(
        academies=[
            academy(1, tags=[{"title": "AI"}, {"title": "Data"}]),
            academy(2),
            academy(3, image="https://cdn.example.org/three.png"),
        ]
    )
    async with serve(fake.app()) as url:
        fake.url = url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
async def stripe_prices() -> AsyncIterator[FakeStripeBilling]:
    fake = FakeStripeBilling(
        prices=[
            price(1, "academy_1_monthly"),
            price(2, "academy_2_monthly", amount=1900),
            price(3, None),  # no lookup key: not an academy price
            price(4, "one_off", recurring=False),
        ]
    )
    async with serve(fake.app()) as url:
        fake.url = url  # type: ignore[attr-defined]
        yield fake


OVERRIDES = {
    "Academy 1": {"stripe_product_id": "prod_1", "stripe_price_lookup_key": "academy_1_monthly"},
    "00000000-0000-4000-8000-000000000002": {
        "stripe_product_id": "prod_2",
        "stripe_price_lookup_key": "academy_2_monthly",
        "long_name": "The Second Academy",
    },
}


def academy_settings(settings, temporal_env, catalogue, stripe_prices):
    """Stripe for prices and payments (the fakes), the fake catalogue, Temporal."""
    return settings.model_copy(
        update={
            "temporal_address": temporal_env.client.service_client.config.target_host,
            "catalog_api_url": catalogue.url,
            "catalog_enterprise_customer": "customer-1",
            "payment_backend": PaymentBackend.STRIPE,
            "academy_price_source": AcademyPriceSource.STRIPE,
            "stripe_api_key": SecretStr("sk_test_guichet"),
            "stripe_api_base": stripe_prices.url,
            "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "academy_overrides": json.dumps(OVERRIDES),
            "academy_catalog_query_ids": json.dumps({"Academy 3": 33}),
            "academy_thumbnail_base_url": "https://media.example.org/",
            "academy_rate_limit": "1000/minute",
        }
    )


@pytest.fixture
def settings(settings, temporal_env, catalogue, stripe_prices):
    return academy_settings(settings, temporal_env, catalogue, stripe_prices)


@pytest.fixture
async def app(settings, worker, sessionmaker):
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def _sync(temporal_client, task_queue: str, name: str | None = None) -> SyncResult:
    handle = await temporal_client.start_workflow(
        CatalogSyncWorkflow.run,
        QUICK_GIVE_UP,
        id=f"catalog-sync-test-{uuid.uuid4()}",
        task_queue=task_queue,
    )
    result = await handle.result()
    if name:
        save_history(name, await handle.fetch_history())
    return result


async def _products(client: httpx.AsyncClient, **params) -> list[dict]:
    answer = await client.get("/api/v1/academy-products", params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["next"], body["previous"], body["count"]) == (None, None, len(body["results"]))
    return body["results"]


# --- the sync ---------------------------------------------------------------------------


async def test_sync_fills_then_changes_nothing(
    temporal_client, task_queue: str, anonymous: httpx.AsyncClient, catalogue
) -> None:
    catalogue.catalog_query_id = 77
    first = await _sync(temporal_client, task_queue, "catalog_sync")
    assert (first.created, first.updated, first.unchanged, first.prices) == (3, 0, 0, 2)
    assert first.errors == []
    again = await _sync(temporal_client, task_queue)
    assert (again.created, again.updated, again.unchanged, again.deactivated) == (0, 0, 3, 0)

    one, two, three = await _products(anonymous)
    assert one["id"] == "prod_1" and one["tags"] == ["AI", "Data"]
    assert one["long_name"] == "Academy 1"  # falls back to the name
    assert one["thumbnail_url"] == "https://media.example.org/media/academy-1.png"
    assert one["catalog_query_id"] == one["edx_catalog_id"] == 77  # the customer's catalog
    assert one["prices"] == [
        {
            "id": "price_1",
            "product": "prod_1",
            "lookup_key": "academy_1_monthly",
            "currency": "eur",
            "unit_amount": 2900,
            "unit_amount_decimal": "2900",
            "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
        }
    ]
    assert two["long_name"] == "The Second Academy" and two["prices"][0]["unit_amount"] == 1900
    assert three["id"] == "academy-3" and three["prices"] == []  # no product: its key
    assert three["thumbnail_url"] == "https://cdn.example.org/three.png"
    assert three["catalog_query_id"] == 33  # mapped in the settings


async def test_missing_academies_are_deactivated_and_filters(
    temporal_client, task_queue: str, anonymous: httpx.AsyncClient, catalogue
) -> None:
    await _sync(temporal_client, task_queue)
    catalogue.academies = catalogue.academies[:2]
    result = await _sync(temporal_client, task_queue)
    assert (result.deactivated, result.unchanged) == (1, 2)
    assert [item["name"] for item in await _products(anonymous)] == ["Academy 1", "Academy 2"]
    everything = await _products(anonymous, include_inactive="true")
    assert len(everything) == 3
    assert [item["name"] for item in await _products(anonymous, tag=["AI", "Data"])] == [
        "Academy 1"
    ]
    assert len(await _products(anonymous, tag="Data")) == 2
    assert [item["name"] for item in await _products(anonymous, product_key="academy-2")] == [
        "Academy 2"
    ]
    by_uuid = await _products(anonymous, academy_uuid="00000000-0000-4000-8000-000000000002")
    assert [item["name"] for item in by_uuid] == ["Academy 2"]
    bad = await anonymous.get("/api/v1/academy-products", params={"academy_uuid": "nope"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_academy_uuid"
    # Retrieve by Stripe product, key, slug or uuid; inactive ones too.
    for key in ("prod_1", "academy-2", "academy-3"):
        answer = await anonymous.get(f"/api/v1/academy-products/{key}")
        assert answer.status_code == 200, key
    missing = await anonymous.get("/api/v1/academy-products/nothing-here")
    assert missing.status_code == 404
    refused = await anonymous.get("/api/v1/academy-products", params={"sync": "true"})
    assert refused.status_code == 400
    assert refused.json() == {"sync": ["sync=true is not supported on this public endpoint."]}


async def test_outages_change_nothing_served(
    temporal_client,
    task_queue: str,
    anonymous: httpx.AsyncClient,
    catalogue,
    stripe_prices,
) -> None:
    await _sync(temporal_client, task_queue)
    before = {item["id"]: item for item in await _products(anonymous)}
    stripe_prices.down = True
    stripe_prices.prices[1]["unit_amount"] = 9900
    # Its overrides are keyed by uuid: they follow the rename.
    catalogue.academies[1]["title"] = "Renamed while Stripe is down"
    partial = await _sync(temporal_client, task_queue)
    assert partial.updated == 1 and partial.errors and partial.errors[0].startswith("prices")
    served = {item["id"]: item for item in await _products(anonymous)}
    assert served["prod_2"]["name"] == "Renamed while Stripe is down"
    assert served["prod_2"]["prices"] == before["prod_2"]["prices"]  # the last known price

    catalogue.down = True
    failed = await _sync(temporal_client, task_queue)
    assert failed.errors[0].startswith("catalogue") and failed.created == failed.updated == 0
    assert {item["id"]: item for item in await _products(anonymous)} == served

    catalogue.down = stripe_prices.down = False
    recovered = await _sync(temporal_client, task_queue)
    assert recovered.errors == []
    recovered_prices = {item["id"]: item["prices"] for item in await _products(anonymous)}
    assert recovered_prices["prod_2"][0]["unit_amount"] == 9900


async def test_allowlist_skips_the_others(settings, sessionmaker, temporal_client) -> None:
    allowed = settings.model_copy(update={"academy_allowlist": ["Academy 2"]})
    async with build_test_worker(temporal_client, allowed, sessionmaker) as queue:
        result = await _sync(temporal_client, queue)
    assert (result.created, result.skipped) == (1, 2)


async def test_bad_catalogue_entries_are_skipped_and_the_rest_lands(
    settings, sessionmaker, temporal_client, catalogue, anonymous: httpx.AsyncClient
) -> None:
    """The peer's own cases: enterprise catalogs ["invalid", "777"] (the first
    used to fail every run), an academy whose display_order is not a number
    (skipped, named in the result), and the catalogue's own slug (used)."""
    catalogue.catalog_query_ids = ["invalid", "777"]
    catalogue.academies = [
        academy(1, slug="ai-academy"),
        academy(2, display_order="invalid"),
        academy(4),
    ]
    async with build_test_worker(temporal_client, settings, sessionmaker) as queue:
        result = await _sync(temporal_client, queue)
    assert result.created == 2
    assert len(result.errors) == 1 and "Academy 2" in result.errors[0]
    found = await anonymous.get("/api/v1/academy-products/ai-academy")
    assert found.status_code == 200, found.text
    assert found.json()["name"] == "Academy 1"
    fourth = await anonymous.get("/api/v1/academy-products/00000000-0000-4000-8000-000000000004")
    assert fourth.json()["catalog_query_id"] == 777  # the first numeric catalog


async def test_the_demo_payload_when_no_catalogue_is_set(
    settings, sessionmaker, temporal_client, anonymous: httpx.AsyncClient
) -> None:
    """The demo's prices follow GUICHET_ACADEMY_PRICE_SOURCE alone: here with
    Stripe taking the payments."""
    demo = settings.model_copy(
        update={"catalog_api_url": None, "academy_price_source": AcademyPriceSource.DEMO}
    )
    assert demo.payment_backend == PaymentBackend.STRIPE
    async with build_test_worker(temporal_client, demo, sessionmaker) as queue:
        result = await _sync(temporal_client, queue)
    assert result.created >= 3 and result.prices >= 3
    products = await _products(anonymous)
    assert all(item["tags"] and item["prices"] for item in products)


async def test_the_schedule_is_created_once_and_runs_at_start(
    settings, temporal_client, sessionmaker, worker
) -> None:
    scoped = settings.model_copy(update={"catalog_sync_interval": timedelta(minutes=30)})
    await ensure_catalog_schedule(temporal_client, scoped)
    await ensure_catalog_schedule(temporal_client, scoped)  # a second worker: no error
    handle = temporal_client.get_schedule_handle(SCHEDULE_ID)
    described = await handle.describe()
    assert described.schedule.spec.intervals[0].every == timedelta(minutes=30)
    for _ in range(100):
        async with sessionmaker() as session:
            count = await session.scalar(text("SELECT count(*) FROM academies"))
        if count:
            break
        await asyncio.sleep(0.1)
    assert count == 3
    await handle.delete()


async def test_admin_triggers_a_sync_and_reads_its_result(
    admin: httpx.AsyncClient, learner: httpx.AsyncClient
) -> None:
    assert (await learner.post("/api/v1/admin/academy-sync")).status_code == 403
    started = await admin.post("/api/v1/admin/academy-sync")
    assert started.status_code == 202
    workflow_id = started.json()["workflow_id"]
    for _ in range(100):
        status = (await admin.get(f"/api/v1/admin/academy-sync/{workflow_id}")).json()
        if status["status"] == "completed":
            break
        await asyncio.sleep(0.1)
    assert status["result"]["created"] == 3
    assert (await admin.get("/api/v1/admin/academy-sync/catalog-sync-nope")).status_code == 404


# --- the public API's guards --------------------------------------------------------------


async def test_the_throttle_answers_429_with_retry_after(settings, sessionmaker) -> None:
    # A day, not a minute: the sliding window weighs the previous window's
    # hits down as it ends, so four requests straddling a minute's boundary
    # let a fourth through (it happened in CI); a day's boundary is as
    # unlikely to fall between them as the test is short.
    limited = create_app(settings.model_copy(update={"academy_rate_limit": "3/day"}))
    async with (
        limited.router.lifespan_context(limited),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=limited), base_url="http://t"
        ) as client,
    ):
        answers = [(await client.get("/api/v1/academy-products")).status_code for _ in range(4)]
        refused = await client.get("/api/v1/academy-products/anything")
    assert answers == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 2 * 86400
    assert refused.json()["error"]["code"] == "rate_limited"


async def test_an_unexpected_failure_is_a_502(anonymous: httpx.AsyncClient, engine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("ALTER TABLE academies RENAME TO academies_away"))
    try:
        answer = await anonymous.get("/api/v1/academy-products")
    finally:
        async with engine.begin() as connection:
            await connection.execute(text("ALTER TABLE academies_away RENAME TO academies"))
    assert answer.status_code == 502
    assert answer.json() == {"error_code": "academy_service_unavailable", "detail": "Retry later."}


# --- checkout intents ---------------------------------------------------------------------


@asynccontextmanager
async def _learner_with(settings, **overrides) -> AsyncIterator[httpx.AsyncClient]:
    """learner-1 on an API with other settings (the worker keeps its own)."""
    application = create_app(settings.model_copy(update=overrides))
    headers = {"Authorization": f"Bearer {token_for(sub='learner-1', roles=[])}"}
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://t", headers=headers
        ) as client,
    ):
        yield client


async def test_intents_one_in_flight_per_academy(
    temporal_client, task_queue: str, learner: httpx.AsyncClient, client_for
) -> None:
    await _sync(temporal_client, task_queue)
    first = await learner.post("/api/v1/checkout-intents", json={"academy": "prod_1"})
    assert first.status_code == 201, first.text
    assert first.json()["state"] == "created"
    again = await learner.post("/api/v1/checkout-intents", json={"academy": "academy-1"})
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    other = await learner.post("/api/v1/checkout-intents", json={"academy": "prod_2"})
    assert other.status_code == 201  # two academies at once are fine
    listed = (await learner.get("/api/v1/checkout-intents")).json()
    assert listed["count"] == 2
    stranger = await client_for(sub="someone-else")
    hidden = await stranger.get(f"/api/v1/checkout-intents/{first.json()['id']}")
    assert hidden.status_code == 404
    unknown = await learner.post("/api/v1/checkout-intents", json={"academy": "nope"})
    assert unknown.json()["error"]["code"] == "academy_not_found"


async def test_concurrent_intents_for_one_academy_make_one(
    temporal_client, task_queue: str, learner: httpx.AsyncClient
) -> None:
    await _sync(temporal_client, task_queue)
    answers = await asyncio.gather(
        *[learner.post("/api/v1/checkout-intents", json={"academy": "prod_1"}) for _ in range(5)]
    )
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert sorted(answer.status_code for answer in answers).count(201) == 1


async def test_a_failed_start_leaves_no_orphan_intent(
    settings, temporal_client, task_queue: str, learner: httpx.AsyncClient, sessionmaker
) -> None:
    """Temporal down: 503 and nothing written. The retry on a healthy API
    gets a new intent with its workflow, not a row nothing will expire."""
    await _sync(temporal_client, task_queue)
    async with _learner_with(settings, temporal_address="127.0.0.1:1") as offline:
        refused = await offline.post("/api/v1/checkout-intents", json={"academy": "prod_1"})
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "temporal_unavailable"
    async with sessionmaker() as session:
        assert list(await session.scalars(select(CheckoutIntent))) == []
    retried = await learner.post("/api/v1/checkout-intents", json={"academy": "prod_1"})
    assert retried.status_code == 201, retried.text
    intent = retried.json()
    assert datetime.fromisoformat(intent["expires_at"]) > datetime.now(UTC)
    handle = temporal_client.get_workflow_handle(f"checkout-intent:{intent['id']}")
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_a_paid_checkout_is_fulfilled(
    settings,
    listening,
    temporal_client,
    task_queue: str,
    sessionmaker,
    worker,
) -> None:
    await _sync(temporal_client, task_queue)
    async with serve(create_app(settings), listening) as live:
        headers = {"Authorization": f"Bearer {token_for(sub='academy-buyer', roles=[])}"}
        async with httpx.AsyncClient(base_url=live, headers=headers) as buyer:
            intent = (
                await buyer.post("/api/v1/checkout-intents", json={"academy": "prod_1"})
            ).json()
            event = {
                "id": f"evt_{uuid.uuid4().hex}",
                "object": "event",
                "type": "checkout.session.completed",
                "data": {
                    "object": {
                        "id": "cs_test_1",
                        "object": "checkout.session",
                        "client_reference_id": intent["id"],
                        "customer": "cus_1",
                        "amount_total": 1900,
                        "currency": "eur",
                    }
                },
            }
            answers = [(await _post(live, *_signed(event, WEBHOOK_SECRET))).json() for _ in "12"]
            # Delivered twice: signalled once.
            assert answers == [{"status": "accepted"}, {"status": "duplicate"}]
            handle = temporal_client.get_workflow_handle(f"checkout-intent:{intent['id']}")
            assert await asyncio.wait_for(handle.result(), 30) == "fulfilled"
            save_history("checkout_intent_paid_page_made", await handle.fetch_history())
            done = (await buyer.get(f"/api/v1/checkout-intents/{intent['id']}")).json()
    assert done["state"] == "fulfilled"
    assert (done["stripe_checkout_session_id"], done["stripe_customer_id"]) == (
        "cs_test_1",
        "cus_1",
    )
    async with sessionmaker() as session:
        (granted,) = list(await session.scalars(select(AcademySubscription)))
        # In the cash book once, though Stripe told twice.
        (cashed,) = list(
            await session.scalars(
                select(LedgerEntry).where(LedgerEntry.source == f"checkout:{intent['id']}")
            )
        )
    assert granted.user_id == "academy-buyer" and granted.is_active
    assert (cashed.method, cashed.amount, cashed.net_amount, cashed.currency) == (
        "card",
        Decimal("19.00"),
        Decimal("19.00"),
        "EUR",
    )
    assert cashed.user_id == "academy-buyer" and cashed.order_id is None


async def test_an_unpaid_intent_expires(
    settings, sessionmaker, temporal_client, learner: httpx.AsyncClient, task_queue: str
) -> None:
    await _sync(temporal_client, task_queue)
    async with _learner_with(settings, checkout_intent_lifetime=timedelta(seconds=1)) as client:
        intent = (await client.post("/api/v1/checkout-intents", json={"academy": "prod_2"})).json()
        handle = temporal_client.get_workflow_handle(f"checkout-intent:{intent['id']}")
        assert await handle.result() == "expired"
        save_history("checkout_intent_page_made_expired", await handle.fetch_history())
        renewed = await client.post("/api/v1/checkout-intents", json={"academy": "prod_2"})
    assert renewed.status_code == 201 and renewed.json()["id"] != intent["id"]


async def test_a_stalled_fulfilment_is_flagged_then_completed(
    settings, temporal_client, task_queue: str, engine, sessionmaker, worker
) -> None:
    """Fulfilment failing (its table is away) past the stall limit: the
    intent says errored_fulfillment_stalled; once it works, fulfilled."""
    await _sync(temporal_client, task_queue)
    async with _learner_with(settings, checkout_fulfilment_stall=timedelta(seconds=1)) as client:
        intent = (await client.post("/api/v1/checkout-intents", json={"academy": "prod_1"})).json()
        async with engine.begin() as connection:
            await connection.execute(
                text("ALTER TABLE academy_subscriptions RENAME TO academy_subscriptions_away")
            )
        handle = temporal_client.get_workflow_handle(f"checkout-intent:{intent['id']}")
        try:
            await handle.signal("paid", IntentPaid(event="invoice.paid"))
            for _ in range(100):
                state = (await client.get(f"/api/v1/checkout-intents/{intent['id']}")).json()
                if state["state"] == "errored_fulfillment_stalled":
                    break
                await asyncio.sleep(0.1)
            assert state["state"] == "errored_fulfillment_stalled"
            assert "fulfilment not done" in state["last_error"]
        finally:
            async with engine.begin() as connection:
                await connection.execute(
                    text("ALTER TABLE academy_subscriptions_away RENAME TO academy_subscriptions")
                )
        assert await asyncio.wait_for(handle.result(), 60) == "fulfilled"


async def test_the_rate_limit_can_live_in_redis() -> None:
    """GUICHET_RATELIMIT_STORAGE_URL=redis://…: counters shared by API replicas."""
    from api.ratelimit import RateLimiter
    from domain.errors import RateLimited

    first, second = RateLimiter("redis://127.0.0.1:6379"), RateLimiter("redis://127.0.0.1:6379")
    scope = f"test-{uuid.uuid4()}"
    await first.check(limit="2/day", scope=scope, key="203.0.113.9")
    await second.check(limit="2/day", scope=scope, key="203.0.113.9")
    with pytest.raises(RateLimited) as refused:
        await first.check(limit="2/day", scope=scope, key="203.0.113.9")
    assert 0 < refused.value.retry_after <= 2 * 86400
