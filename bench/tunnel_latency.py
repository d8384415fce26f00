"""Each learner step, one at a time on an idle stack (PostgreSQL, a Temporal
dev server, `guichet worker` and the API in processes of their own): create
a paid order, save its card, submit a contract for signature, claim a
prepaid seat with its voucher.

Reference (spec 60-quality): an empty workflow's update-with-start answered
by its first update, on the same server, in the same run. Bar: each step's
p50 at most 1.5x the reference's.

    .venv/bin/python -m bench.tunnel_latency [--count 100] [--warmup 10]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

import httpx
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from bench.common import (
    ROOT,
    api_env,
    bench_token,
    guichet_worker,
    percentile,
    scratch_database,
    temporal_dev_server,
    uvicorn,
)
from bench.empty_workflow import EmptyUpdateWorkflow
from cli import free_port
from models.session import create_engine, create_sessionmaker
from tests.api.tunnel import ADDRESS, CARD
from tests.factories import Factory

RATIO_BAR = 1.5
STEPS = ("create a paid order", "save the card", "submit for signature", "claim a voucher")


async def _seed(url: str) -> dict[str, str]:
    """A paid offering, a paid contract offering and a seats' product; the
    course starts in 60 days (nothing falls due during the bench)."""
    engine = create_engine(url)
    factory = Factory(create_sessionmaker(engine))
    org = await factory.organization(
        signatories=[{"name": "Claire Martin", "email": "claire@univ.example"}]
    )
    course = await factory.course(organizations=[org])
    start = datetime.now(UTC) + timedelta(days=60)
    run = await factory.course_run(course=course, start=start, end=start + timedelta(days=90))
    made = {}
    for name, contract in (("paid", False), ("contract", True), ("seats", False)):
        product = await factory.product(
            price="450.00", contract_required=contract, target_course_runs=[run]
        )
        offering = await factory.offering(course=course, product=product, organizations=[org])
        made[name] = str(offering.id)
        made[f"{name}_product"] = str(product.id)
    await engine.dispose()
    return made


async def _timed(request: Awaitable[httpx.Response], expected: int) -> tuple[float, dict]:
    """How long the request took (the coroutine runs only when awaited here)."""
    started = time.perf_counter()
    answer = await request
    elapsed = time.perf_counter() - started
    if answer.status_code != expected:
        raise SystemExit(f"{answer.request.url}: {answer.status_code} {answer.text[:500]}")
    return elapsed, answer.json()


async def _seat_codes(client: httpx.AsyncClient, product_id: str, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {bench_token('bench-admin', ('admin',))}"}
    codes: list[str] = []
    while len(codes) < count:
        body = {"product_id": product_id, "count": min(1000, count - len(codes))}
        seats = await client.post("/api/v1/admin/orders", json=body, headers=headers)
        seats.raise_for_status()
        codes += [seat["voucher"]["code"] for seat in seats.json()]
    return codes


async def _tunnel(
    url: str, seeded: dict[str, str], count: int, learners: str
) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {step: [] for step in STEPS}
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        codes = await _seat_codes(client, seeded["seats_product"], count)
        for number in range(count):
            client.headers["Authorization"] = f"Bearer {bench_token(f'{learners}-{number}')}"
            paid = {"offering_id": seeded["paid"], "billing_address": ADDRESS}
            took, order = await _timed(client.post("/api/v1/orders", json=paid), 201)
            timings[STEPS[0]].append(took)
            card = client.post(f"/api/v1/orders/{order['id']}/payment-method", json=CARD)
            timings[STEPS[1]].append((await _timed(card, 200))[0])
            contract = {"offering_id": seeded["contract"], "billing_address": ADDRESS}
            signing = (await client.post("/api/v1/orders", json=contract)).json()["id"]
            submit = client.post(f"/api/v1/orders/{signing}/submit-for-signature")
            timings[STEPS[2]].append((await _timed(submit, 200))[0])
            claim = {"offering_id": seeded["seats"], "voucher_code": codes[number]}
            timings[STEPS[3]].append(
                (await _timed(client.post("/api/v1/orders", json=claim), 200))[0]
            )
    return timings


async def _reference(address: str, queue: str, count: int) -> list[float]:
    client = await Client.connect(address)
    latencies = []
    for _ in range(count):
        operation = WithStartWorkflowOperation(
            EmptyUpdateWorkflow.run,
            id=f"empty-update-{uuid.uuid4()}",
            task_queue=queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        started = time.perf_counter()
        await client.execute_update_with_start_workflow(
            EmptyUpdateWorkflow.answer, start_workflow_operation=operation
        )
        latencies.append(time.perf_counter() - started)
    return latencies


def _reference_run(address: str, count: int, warmup: int) -> list[float]:
    queue = f"bench-empty-{uuid.uuid4()}"
    command = [sys.executable, "-m", "bench.empty_workflow", "--address", address, "--queue", queue]
    worker = subprocess.Popen(command, cwd=ROOT)
    try:
        asyncio.run(_reference(address, queue, warmup))
        return asyncio.run(_reference(address, queue, count))
    finally:
        worker.terminate()
        worker.wait(15)


def _line(name: str, values: list[float], reference: float) -> str:
    p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
    verdict = "ok" if p50 <= RATIO_BAR * reference else "over the bar"
    return (
        f"tunnel_latency {name:22s} p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  "
        f"{p50 / reference:5.2f}x the reference  ({verdict}, bar {RATIO_BAR}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    with scratch_database() as url, temporal_dev_server() as address:
        seeded = asyncio.run(_seed(url))
        reference = _reference_run(address, args.count, args.warmup)
        port = free_port()
        env = api_env(
            url,
            temporal_address=address,
            task_queue="bench-tunnel",
            public_url=f"http://127.0.0.1:{port}",
        )
        with guichet_worker(env), uvicorn("api.app:app_from_environment", port, env, factory=True):
            api = f"http://127.0.0.1:{port}"
            asyncio.run(_tunnel(api, seeded, args.warmup, "warmup"))
            timings = asyncio.run(_tunnel(api, seeded, args.count, "learner"))
    reference_p50 = percentile(reference, 0.5)
    print(
        f"tunnel_latency reference: empty update-with-start p50 {reference_p50 * 1000:7.1f} ms  "
        f"p95 {percentile(reference, 0.95) * 1000:7.1f} ms"
    )
    for name in STEPS:
        print(_line(name, timings[name], reference_p50))


if __name__ == "__main__":
    main()
