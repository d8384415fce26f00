"""Rolling restarts lose nothing (spec 65), the short version CI runs: two
`guichet api` and two `guichet worker` processes; learners order and save
their cards while each process in turn gets SIGTERM and is started again.

An API stops accepting, finishes its requests in flight and exits; a worker
stops polling and lets its activities finish (GUICHET_WORKER_SHUTDOWN_GRACE).
A client whose connection is refused (or who gets a 503) retries the same
request with the same Idempotency-Key on the other API. Bar: one order per
key, every installment charged exactly once, every order completed."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from domain.orders import OrderState
from models.invoices import Invoice, Transaction
from models.orders import Installment, Order
from models.payments import DummyChargeRow
from settings import Settings
from tests.api.tunnel import ADDRESS, CARD
from tests.conftest import process_env, token_for
from tests.factories import Factory
from tests.reliability.test_api_restart import ApiProcess
from tests.reliability.test_worker_kill import WorkerProcess

LEARNERS = 10
RETRYABLE = {502, 503, 504}


@pytest.fixture
def settings(settings, temporal_env) -> Settings:
    return settings.model_copy(
        update={
            "temporal_address": temporal_env.client.service_client.config.target_host,
            # Only the processes of this test poll it.
            "task_queue": f"rolling-{uuid.uuid4()}",
        }
    )


async def _terminated(process: subprocess.Popen[bytes] | None) -> int:
    """SIGTERM, then its exit code once it has finished what it had in hand."""
    assert process is not None
    process.send_signal(signal.SIGTERM)
    return await asyncio.to_thread(process.wait, 60)


class Learner:
    """A learner's browser: every request retried with its key on the other
    API until one answers."""

    def __init__(self, apis: list[ApiProcess], number: int) -> None:
        self.apis = apis
        self.turn = number
        self.headers = {"Authorization": f"Bearer {token_for(sub=f'rolling-{number}', roles=[])}"}
        self.retries = 0

    async def post(self, path: str, body: dict, key: str | None = None) -> httpx.Response:
        headers = self.headers | ({"Idempotency-Key": key} if key else {})
        deadline = asyncio.get_running_loop().time() + 90
        while True:
            api = self.apis[self.turn % len(self.apis)]
            try:
                async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
                    answer = await client.post(path, json=body, headers=headers)
                if answer.status_code not in RETRYABLE:
                    return answer
            except httpx.TransportError:
                pass
            assert asyncio.get_running_loop().time() < deadline, f"{path}: no API answered"
            self.retries += 1
            self.turn += 1
            await asyncio.sleep(0.2)

    async def buys(self, offering_id: str) -> str:
        body = {"offering_id": offering_id, "billing_address": ADDRESS}
        created = await self.post("/api/v1/orders", body, key=f"rolling-{uuid.uuid4()}")
        assert created.status_code in {200, 201}, created.text
        order_id = created.json()["id"]
        saved = await self.post(f"/api/v1/orders/{order_id}/payment-method", CARD)
        # 409: a retry of a save that had landed (the order moved on).
        assert saved.status_code in {200, 409}, saved.text
        return order_id


async def _offering(factory: Factory) -> str:
    """Three installments due within seconds: debits run during the restarts."""
    org = await factory.organization()
    course = await factory.course(organizations=[org])
    start = datetime.now(UTC) + timedelta(seconds=12)
    run = await factory.course_run(course=course, start=start, end=start + timedelta(seconds=8))
    product = await factory.product(price="300.00", target_course_runs=[run])
    offering = await factory.offering(course=course, product=product, organizations=[org])
    return str(offering.id)


async def _states(sessionmaker, order_ids: list[str]) -> list[str]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(Order.state).where(Order.id.in_([uuid.UUID(item) for item in order_ids]))
        )
        return list(rows.all())


async def test_rolling_restarts_lose_nothing(
    settings: Settings, factory: Factory, sessionmaker, tmp_path: Path
) -> None:
    apis = [ApiProcess(settings, tmp_path / f"api-{n}.log") for n in range(2)]
    env = process_env(settings)
    workers = [WorkerProcess(env, tmp_path / f"worker-{n}.log") for n in range(2)]
    try:
        for worker in workers:
            worker.start()
        await asyncio.gather(*(api.start() for api in apis))
        offerings = [await _offering(factory) for _ in range(LEARNERS)]
        learners = [Learner(apis, n) for n in range(LEARNERS)]

        async def restarts() -> list[int]:
            codes = []
            for api in apis:
                codes.append(await _terminated(api.process))
                await api.start()
            for worker in workers:
                codes.append(await _terminated(worker.process))
                worker.start()
            return codes

        buying = asyncio.gather(
            *(learner.buys(offering) for learner, offering in zip(learners, offerings, strict=True))
        )
        await asyncio.sleep(0.3)  # requests in flight when the first SIGTERM comes
        exits, order_ids = await asyncio.gather(restarts(), buying)
        deadline = asyncio.get_running_loop().time() + 120
        while set(await _states(sessionmaker, order_ids)) != {OrderState.COMPLETED.value}:
            assert asyncio.get_running_loop().time() < deadline, await _states(
                sessionmaker, order_ids
            )
            await asyncio.sleep(0.5)
    finally:
        for api in apis:
            api.kill()
        for worker in workers:
            worker.kill()

    # uvicorn re-raises the SIGTERM once it has shut down gracefully (its
    # log says "Finished server process"); a worker exits 0.
    assert set(exits[:2]) <= {0, -signal.SIGTERM}
    assert all("Finished server process" in api.log_text() for api in apis)
    assert exits[2:] == [0, 0], "a worker exits cleanly on SIGTERM"
    ids = [uuid.UUID(item) for item in order_ids]
    async with sessionmaker() as session:
        owners = await session.scalar(
            select(func.count()).select_from(Order).where(Order.owner_id.like("rolling-%"))
        )
        installments = list(
            await session.scalars(select(Installment.id).where(Installment.order_id.in_(ids)))
        )
        charges = await session.scalar(
            select(func.count())
            .select_from(DummyChargeRow)
            .where(DummyChargeRow.key.in_([f"installment:{item}" for item in installments]))
        )
        payments = await session.scalar(
            select(func.count())
            .select_from(Transaction)
            .join(Invoice, Invoice.id == Transaction.invoice_id)
            .where(Invoice.order_id.in_(ids), Transaction.kind == "payment")
        )
    assert owners == LEARNERS == len(set(order_ids))
    assert len(installments) == 3 * LEARNERS
    assert charges == payments == 3 * LEARNERS
