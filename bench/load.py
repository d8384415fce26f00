"""Load generators, run as processes of their own by the benches: the load
never shares an interpreter (or its GIL) with what it measures. Each prints
one JSON line of figures.

    python -m bench.load orders --url U --count N --concurrency C [--free F] --paid P
    python -m bench.load empty --address A --queue Q --count N --concurrency C
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from collections import Counter

import httpx
from temporalio.client import Client

from bench.common import bench_token, percentile
from tests.api.tunnel import ADDRESS, CARD


async def _one_order(client: httpx.AsyncClient, number: int, free: str | None, paid: str) -> str:
    """Creation, and for the paid product its card: the order's workflow has
    written `completed` (free) or `pending` (3 installments) when this returns."""
    headers = {"Authorization": f"Bearer {bench_token(f'bench-learner-{number}')}"}
    offering = free if free is not None and number % 2 == 0 else paid
    body = {"offering_id": offering} | ({} if offering == free else {"billing_address": ADDRESS})
    created = await client.post("/api/v1/orders", json=body, headers=headers)
    if created.status_code != 201:
        return f"create {created.status_code}"
    order = created.json()
    if order["state"] == "completed":
        return "completed"
    saved = await client.post(
        f"/api/v1/orders/{order['id']}/payment-method", json=CARD, headers=headers
    )
    return saved.json()["state"] if saved.status_code == 200 else f"card {saved.status_code}"


async def _bounded(count: int, concurrency: int, one) -> tuple[float, Counter, list[float]]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def timed(number: int) -> str:
        async with gate:
            started = time.perf_counter()
            try:
                outcome = await one(number)
            except (
                httpx.HTTPError,
                ValueError,
            ) as error:  # counted, not fatal: the bench reports it
                outcome = f"error {type(error).__name__}"
            latencies.append(time.perf_counter() - started)
            return outcome

    started = time.perf_counter()
    outcomes = await asyncio.gather(*(timed(number) for number in range(count)))
    return time.perf_counter() - started, Counter(outcomes), latencies


async def _orders(args: argparse.Namespace) -> dict:
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=args.url, timeout=120, limits=limits) as client:
        elapsed, outcomes, latencies = await _bounded(
            args.count,
            args.concurrency,
            lambda number: _one_order(client, number, args.free, args.paid),
        )
    return {"seconds": elapsed, "outcomes": outcomes, "p95": percentile(latencies, 0.95)}


async def _empty(args: argparse.Namespace) -> dict:
    client = await Client.connect(args.address)

    async def one(_number: int) -> str:
        await client.execute_workflow(
            "EmptyWorkflow", id=f"empty-{uuid.uuid4()}", task_queue=args.queue
        )
        return "completed"

    elapsed, outcomes, latencies = await _bounded(args.count, args.concurrency, one)
    return {"seconds": elapsed, "outcomes": outcomes, "p95": percentile(latencies, 0.95)}


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    orders = commands.add_parser("orders")
    orders.add_argument("--url", required=True)
    orders.add_argument("--free", help="every other order for this free offering; else all paid")
    orders.add_argument("--paid", required=True)
    empty = commands.add_parser("empty")
    empty.add_argument("--address", required=True)
    empty.add_argument("--queue", required=True)
    for command in (orders, empty):
        command.add_argument("--count", type=int, required=True)
        command.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    figures = asyncio.run(_orders(args) if args.command == "orders" else _empty(args))
    print(json.dumps(figures), flush=True)
    # No interpreter finalization: the Temporal client's native threads may
    # abort it (SIGABRT), as cli.py's worker explains.
    os._exit(0)


if __name__ == "__main__":
    main()
