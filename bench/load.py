"""Load generators, run as processes of their own by the benches: the load
never shares an interpreter (or its GIL) with what it measures. Each prints
one JSON line of figures.

    python -m bench.load orders --url U --count N --concurrency C [--free F] --paid P
    python -m bench.load empty --address A --queue Q --count N --concurrency C
    python -m bench.load soak --urls U1,U2 --paid P --minutes M --concurrency C
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


class Soak:
    """A fixed number of clients, each in turn ordering with a card (two
    requests) or reading (its orders, the academy catalogue), on the APIs
    in turn, for a while. A failure is any 5xx or broken connection."""

    # A learner's orders, the offerings search, a deep link (the academy
    # catalogue is throttled per IP: from one machine it would be 429s).
    READS = ("/api/v1/orders", "/api/v1/offerings", "/api/v1/offerings/{paid}/deep-link")
    WINDOW_SECONDS = 300

    def __init__(self, urls: list[str], paid: str, seconds: float) -> None:
        self.urls = urls
        self.paid = paid
        self.until = time.monotonic() + seconds
        self.started = time.monotonic()
        self.requests = 0
        self.failures: Counter = Counter()
        self.created: list[str] = []
        # Read latencies per 5-minute window.
        self.windows: dict[int, list[float]] = {}

    async def _send(self, client: httpx.AsyncClient, method: str, path: str, **kwargs):
        self.requests += 1
        try:
            answer = await client.request(method, path, **kwargs)
        except httpx.TransportError as error:
            self.failures[f"{method} {path.split('/')[3]} {type(error).__name__}"] += 1
            return None
        if answer.status_code >= 500:
            self.failures[f"{method} {path.split('/')[3]} {answer.status_code}"] += 1
            return None
        return answer

    async def _order(self, client: httpx.AsyncClient, headers: dict) -> None:
        body = {"offering_id": self.paid, "billing_address": ADDRESS}
        created = await self._send(client, "POST", "/api/v1/orders", json=body, headers=headers)
        if created is None or created.status_code != 201:
            return
        self.created.append(created.json()["id"])
        path = f"/api/v1/orders/{created.json()['id']}/payment-method"
        await self._send(client, "POST", path, json=CARD, headers=headers)

    async def _read(self, client: httpx.AsyncClient, headers: dict, number: int) -> None:
        started = time.perf_counter()
        path = self.READS[number % len(self.READS)].format(paid=self.paid)
        answer = await self._send(client, "GET", path, headers=headers)
        if answer is not None:
            window = int((time.monotonic() - self.started) // self.WINDOW_SECONDS)
            self.windows.setdefault(window, []).append(time.perf_counter() - started)

    async def client(self, number: int) -> None:
        url = self.urls[number % len(self.urls)]
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            step = 0
            while time.monotonic() < self.until:
                # A learner of its own per order: one active order per offering.
                learner = f"soak-{number}-{step}"
                headers = {"Authorization": f"Bearer {bench_token(learner)}"}
                if step % 3 == 0:
                    await self._order(client, headers)
                else:
                    await self._read(client, headers, step)
                step += 1

    def figures(self) -> dict:
        return {
            "requests": self.requests,
            "failures": dict(self.failures),
            "created": self.created,
            "read_p99_by_window": {
                str(window): percentile(values, 0.99)
                for window, values in sorted(self.windows.items())
            },
        }


async def _soak(args: argparse.Namespace) -> dict:
    soak = Soak(args.urls.split(","), args.paid, args.minutes * 60)
    await asyncio.gather(*(soak.client(number) for number in range(args.concurrency)))
    return soak.figures()


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
    soak = commands.add_parser("soak")
    soak.add_argument("--urls", required=True, help="the APIs, comma-separated")
    soak.add_argument("--paid", required=True)
    soak.add_argument("--minutes", type=float, required=True)
    soak.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    run = {"orders": _orders, "empty": _empty, "soak": _soak}[args.command]
    figures = asyncio.run(run(args))
    print(json.dumps(figures), flush=True)
    # No interpreter finalization: the Temporal client's native threads may
    # abort it (SIGABRT), as cli.py's worker explains.
    os._exit(0)


if __name__ == "__main__":
    main()
