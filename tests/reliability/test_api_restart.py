"""`POST /api/v1/orders` retried with the same Idempotency-Key while the API
is killed and restarted (spec 60-quality): exactly one order.

The API runs as `guichet api` in a process of its own; each round sends the
creation, SIGKILLs the API at a moment drawn at random (before, during or
after the order is written) and starts it again. The client retries with the
same key until it gets an answer, as a member's browser or a partner's
integration would."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from models.orders import Order
from settings import Settings
from tests.api.tunnel import ADDRESS
from tests.conftest import ROOT, process_env, token_for
from tests.factories import Factory
from tests.fakes import bound_socket, port_of

KILLS = 8
KEY = "checkout-7f3a"


@pytest.fixture
def settings(settings, temporal_env) -> Settings:
    return settings.model_copy(
        update={"temporal_address": temporal_env.client.service_client.config.target_host}
    )


class ApiProcess:
    """`guichet api` on a fixed port, started again after each kill."""

    def __init__(self, settings: Settings, log: Path) -> None:
        sock = bound_socket()
        self.port = port_of(sock)
        sock.close()  # uvicorn binds it itself; SO_REUSEADDR lets it at once
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = process_env(settings)
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "cli", "api", "--host", "127.0.0.1"]
        with self._log.open("ab") as log:
            return subprocess.Popen(
                [*command, "--port", str(self.port)],
                cwd=ROOT,
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def start(self) -> None:
        self.process = self._spawn()
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert self.process.poll() is None, self._log.read_text()[-2000:]
                await asyncio.sleep(0.1)
        pytest.fail("the API did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def log_text(self) -> str:
        return self._log.read_text()


@pytest.fixture
def api(settings: Settings, tmp_path: Path) -> Iterator[ApiProcess]:
    process = ApiProcess(settings, tmp_path / "api.log")
    yield process
    process.kill()


async def _offering(factory: Factory):
    org = await factory.organization()
    course = await factory.course(organizations=[org])
    start = datetime.now(UTC) + timedelta(days=60)
    run = await factory.course_run(course=course, start=start, end=start + timedelta(days=90))
    product = await factory.product(price="300.00", target_course_runs=[run])
    return await factory.offering(course=course, product=product, organizations=[org])


async def test_one_order_whatever_the_restarts(
    api: ApiProcess, worker, factory: Factory, sessionmaker
) -> None:
    offering = await _offering(factory)
    body = {"offering_id": str(offering.id), "billing_address": ADDRESS}
    headers = {
        "Authorization": f"Bearer {token_for(sub='impatient', roles=[])}",
        "Idempotency-Key": KEY,
    }
    moments = random.Random(3)
    answers: list[int] = []
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as client:
        for _ in range(KILLS):
            await api.start()
            creating = asyncio.create_task(client.post("/api/v1/orders", json=body))
            await asyncio.sleep(moments.uniform(0, 0.6))
            api.kill()
            try:
                answers.append((await creating).status_code)
            except httpx.TransportError:
                answers.append(0)  # the connection died with the API: retry
        await api.start()
        final = await client.post("/api/v1/orders", json=body)
        again = await client.post("/api/v1/orders", json=body)

    assert final.status_code in {200, 201}, final.text
    assert again.json()["id"] == final.json()["id"]
    assert 0 in answers  # some requests really were cut off by a kill
    async with sessionmaker() as session:
        orders = await session.scalar(
            select(func.count()).select_from(Order).where(Order.owner_id == "impatient")
        )
    assert orders == 1
    assert final.json()["state"] in {"to_save_payment_method", "pending"}
