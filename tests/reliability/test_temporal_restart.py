"""The Temporal dev server restarted mid-order, its history kept in a file
database (spec 60-quality): the order completes.

An order is created, its card saved, and its three installments fall due
while the server is down (SIGKILLed) and just after it returns on the same
port and file. The API and worker stay up through the outage, reconnect on
their own, and the durable timers fire: every installment paid once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.app import create_app
from cli import free_port, temporal_binary
from tests.api.test_orders import _create
from tests.api.tunnel import ADDRESS, CARD
from tests.conftest import build_test_worker, token_for
from tests.factories import Factory
from workflows import search

DOWN_FOR = 4.0  # seconds, across the first installment's due time


class TemporalServer:
    """`temporal server start-dev` on a fixed port with a file database."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._database = directory / "temporal.db"
        self._log = directory / "temporal.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [temporal_binary(), "server", "start-dev", "--headless", "--log-level", "error"]
        options = [
            *search.dev_server_flags(),
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db-filename",
            str(self._database),
        ]
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, *options], stdout=log, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


async def _connect(address: str) -> Client:
    for _ in range(150):
        try:
            return await Client.connect(address, data_converter=pydantic_data_converter)
        except RuntimeError:
            await asyncio.sleep(0.2)
    pytest.fail(f"Temporal did not start at {address}")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[TemporalServer]:
    started = TemporalServer(tmp_path)
    started.start()
    yield started
    started.kill()


async def _paid_order(learner: httpx.AsyncClient, factory: Factory) -> tuple[dict, datetime]:
    """A 3-installment order, its card saved; and when its first installment is due."""
    org = await factory.organization()
    course = await factory.course(organizations=[org])
    now = datetime.now(UTC)
    start = now + timedelta(seconds=8)
    run = await factory.course_run(course=course, start=start, end=start + timedelta(seconds=4))
    product = await factory.product(price="450.00", target_course_runs=[run])
    offering = await factory.offering(course=course, product=product, organizations=[org])
    order = (await _create(learner, offering, billing_address=ADDRESS)).json()
    saved = await learner.post(f"/api/v1/orders/{order['id']}/payment-method", json=CARD)
    assert saved.status_code == 200, saved.text
    return saved.json(), start


async def test_an_order_completes_across_a_temporal_restart(
    server: TemporalServer, settings, sessionmaker, factory: Factory
) -> None:
    client = await _connect(server.address)
    settings = settings.model_copy(update={"temporal_address": server.address})
    async with build_test_worker(client, settings, sessionmaker) as queue:
        app = create_app(settings.model_copy(update={"task_queue": queue}))
        headers = {"Authorization": f"Bearer {token_for(sub='patient', roles=[])}"}
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers
            ) as learner,
        ):
            order, first_due = await _paid_order(learner, factory)
            assert order["state"] == "pending"
            assert len(order["payment_schedule"]) >= 2
            await asyncio.sleep(max(0.0, (first_due - datetime.now(UTC)).total_seconds() - 1))
            server.kill()
            await asyncio.sleep(DOWN_FOR)
            assert (await learner.get(f"/api/v1/orders/{order['id']}")).status_code == 200
            server.start()
            for _ in range(300):
                current = (await learner.get(f"/api/v1/orders/{order['id']}")).json()
                if current["state"] == "completed":
                    break
                await asyncio.sleep(0.2)
    assert current["state"] == "completed", current
    assert [item["state"] for item in current["payment_schedule"]] == ["paid"] * len(
        current["payment_schedule"]
    )
