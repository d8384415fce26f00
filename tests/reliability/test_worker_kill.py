"""A worker SIGKILLed while it debits installments at Stripe (localstripe),
restarted, again and again: every installment ends paid exactly once,
counted at the provider.

A proxy holds each PaymentIntent confirmation's answer after localstripe has
made the charge; the worker is killed while an answer is held, the worst
moment: money taken, nothing recorded. localstripe ignores idempotency keys,
so only the debit's own design (the charge prepared and its reference
stored before it is confirmed) keeps the restarted worker from charging again.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from models.orders import Installment, Order, PaymentMethod
from models.session import autocommit, create_sessionmaker
from settings import PaymentBackend, Settings
from tests.api.test_orders import _create
from tests.api.tunnel import ADDRESS
from tests.conftest import ROOT, process_env
from tests.factories import Factory
from tests.fakes import serve
from tests.fakes.stripe_proxy import ConfirmHoldingProxy

API_KEY = "sk_test_guichet"
KILLS = 20
# Three installments each, the later two debited while the worker is being
# killed, their due times spread so that one kill rarely catches two debits.
ORDERS = 16
SPREAD = timedelta(seconds=2)
HOLD_SECONDS = 1.5


@pytest.fixture
async def proxy(localstripe: str) -> AsyncIterator[ConfirmHoldingProxy]:
    holding = ConfirmHoldingProxy(upstream=localstripe, hold=HOLD_SECONDS)
    async with serve(holding.app()) as url:
        holding.url = url  # type: ignore[attr-defined]
        yield holding


@pytest.fixture
def settings(settings, temporal_env, proxy: ConfirmHoldingProxy) -> Settings:
    return settings.model_copy(
        update={
            "temporal_address": temporal_env.client.service_client.config.target_host,
            "payment_backend": PaymentBackend.STRIPE,
            "stripe_api_key": SecretStr(API_KEY),
            "stripe_api_base": proxy.url,  # type: ignore[attr-defined]
        }
    )


class WorkerProcess:
    """`guichet worker` in its own process, with `env` (process_env and more)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._env = env
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cli", "worker"],
                cwd=ROOT,
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def worker_process(settings: Settings, tmp_path: Path) -> Iterator[WorkerProcess]:
    env = process_env(settings) | {
        "GUICHET_PAYMENT_BACKEND": "stripe",
        "GUICHET_STRIPE_API_KEY": API_KEY,
        "GUICHET_STRIPE_API_BASE": str(settings.stripe_api_base),
    }
    running = WorkerProcess(env, tmp_path / "worker.log")
    running.start()
    yield running
    running.stop()


async def _orders(learner: httpx.AsyncClient, factory: Factory) -> list[str]:
    """Paid orders of three installments: due at once, at the course start and
    at its end, each order's course starting SPREAD after the previous one's."""
    org = await factory.organization()
    ids = []
    for position in range(ORDERS):
        course = await factory.course(organizations=[org])
        start = datetime.now(UTC) + timedelta(seconds=8) + position * SPREAD
        run = await factory.course_run(
            course=course, start=start, end=start + timedelta(seconds=30)
        )
        product = await factory.product(price="450.00", target_course_runs=[run])
        offering = await factory.offering(course=course, product=product, organizations=[org])
        created = await _create(learner, offering, billing_address=ADDRESS)
        assert created.status_code == 201, created.text
        # At once, so that its course has not started yet on a loaded machine.
        saved = await learner.post(
            f"/api/v1/orders/{created.json()['id']}/payment-method",
            json={"payment_method_id": "pm_card_visa"},
            timeout=60,
        )
        assert saved.status_code == 200, saved.text
        assert len(saved.json()["payment_schedule"]) == 3, "the course started before pending"
        ids.append(created.json()["id"])
    return ids


async def _kill_during_debits(worker: WorkerProcess, proxy: ConfirmHoldingProxy) -> int:
    kills = 0
    seen = proxy.confirmations
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 300
    while kills < KILLS and loop.time() < deadline:
        # A confirmation made since the last restart, its answer held: this
        # worker has charged and not recorded it.
        if proxy.held and proxy.confirmations > seen:
            worker.kill()
            kills += 1
            seen = proxy.confirmations
            worker.start()
        await asyncio.sleep(0.02)
    return kills


async def _installments(sessionmaker, order_ids: list[str]) -> list[Installment]:
    async with sessionmaker() as session:
        return list(
            await session.scalars(
                select(Installment).where(Installment.order_id.in_(map(uuid.UUID, order_ids)))
            )
        )


async def _charges_at_stripe(localstripe: str, customer: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=localstripe, auth=(API_KEY, "")) as client:
        answer = await client.get("/v1/charges", params={"customer": customer, "limit": 1000})
    return [item for item in answer.json()["data"] if item["status"] == "succeeded"]


@pytest.mark.e2e
async def test_sigkill_during_debits_never_charges_twice(
    worker_process: WorkerProcess,
    proxy: ConfirmHoldingProxy,
    learner: httpx.AsyncClient,
    factory: Factory,
    sessionmaker,
    localstripe: str,
    engine,
) -> None:
    order_ids = await _orders(learner, factory)
    # The test only reads from here on: statements outside transactions, which
    # on SQLite take no write lock away from the worker it is watching.
    reader = create_sessionmaker(autocommit(engine))
    kills = await _kill_during_debits(worker_process, proxy)
    assert kills == KILLS, f"only {kills} confirmations were caught in flight"

    ids = [uuid.UUID(order_id) for order_id in order_ids]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while loop.time() < deadline:
        installments = await _installments(reader, order_ids)
        async with reader() as session:
            states = set(await session.scalars(select(Order.state).where(Order.id.in_(ids))))
        if states == {"completed"}:
            break
        await asyncio.sleep(0.5)
    installments = await _installments(reader, order_ids)
    assert sorted({item.state for item in installments}) == ["paid"], "an installment was lost"
    assert states == {"completed"}
    async with reader() as session:
        (customer,) = set(await session.scalars(select(PaymentMethod.customer_reference)))
    charges = await _charges_at_stripe(localstripe, customer)
    # One charge per installment, for its amount, on the intent it recorded.
    assert len(charges) == len(installments) == 3 * ORDERS
    by_intent = {charge["payment_intent"]: charge["amount"] for charge in charges}
    assert by_intent == {item.charge_reference: int(item.amount * 100) for item in installments}
