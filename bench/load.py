"""Load generators, run as processes of their own by the benches: the load
never shares an interpreter (or its GIL) with what it measures. Each prints
one JSON line of figures.

    python -m bench.load orders --url U --count N --concurrency C [--free F] --paid P
    python -m bench.load empty --address A --queue Q --count N --concurrency C
    python -m bench.load soak --urls U1,U2 --paid P --contract K --codes FILE --minutes M --concurrency C
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from temporalio.client import Client

from bench.common import JWT_SECRET, bench_token, percentile
from domain.signatures import Notification, NotificationEvent, Recipient
from integrations.signature.dummy import SIGNATURE_HEADER, WEBHOOK_PATH, sign_body, signer_key
from settings import Settings
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
    requests), ordering a course with a contract and signing it (the
    learner's invitation, the provider's page, the provider's webhook:
    five), activating a promo code into a fresh member's cart (two), or
    reading (its orders, the offerings search, a deep link), on the APIs in
    turn, for a while. A failure is any 5xx or broken connection."""

    # A learner's orders, the offerings search, a deep link (the academy
    # catalogue is throttled per IP: from one machine it would be 429s).
    READS = ("/api/v1/orders", "/api/v1/offerings", "/api/v1/offerings/{paid}/deep-link")
    # Of every six steps: an order with a card, a signed contract, a promo
    # activation and three reads.
    STEPS = ("order", "contract", "promo", "read", "read", "read")
    WINDOW_SECONDS = 300

    def __init__(self, args: argparse.Namespace) -> None:
        self.urls = args.urls.split(",")
        self.paid = args.paid
        self.contract = args.contract
        self.codes = Path(args.codes).read_text().split()
        self.secret = Settings(jwt_secret=JWT_SECRET).dummy_signature_secret_value
        self.until = time.monotonic() + args.minutes * 60
        self.started = time.monotonic()
        self.requests = 0
        self.failures: Counter = Counter()
        self.created: list[str] = []
        self.signed: list[str] = []
        self.activated: list[str] = []
        # Read latencies per 5-minute window.
        self.windows: dict[int, list[float]] = {}

    async def _send(self, client: httpx.AsyncClient, method: str, path: str, **kwargs):
        self.requests += 1
        try:
            answer = await client.request(method, path, **kwargs)
        except httpx.TransportError as error:
            self.failures[f"{method} {_what(path)} {type(error).__name__}"] += 1
            return None
        if answer.status_code >= 500:
            self.failures[f"{method} {_what(path)} {answer.status_code}"] += 1
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

    async def _contract(self, client: httpx.AsyncClient, headers: dict) -> None:
        """A free course with a contract: ordered, submitted, signed by the
        learner on the provider's page, and the provider's webhook delivered
        (the dummy provider's own are off for the run)."""
        body = {"offering_id": self.contract}
        created = await self._send(client, "POST", "/api/v1/orders", json=body, headers=headers)
        if created is None or created.status_code != 201:
            return
        order_id = created.json()["id"]
        self.created.append(order_id)
        path = f"/api/v1/orders/{order_id}/submit-for-signature"
        submitted = await self._send(client, "POST", path, headers=headers)
        if submitted is None or submitted.status_code != 200:
            return
        page, reference = _page_of(submitted.json()["invitation_link"])
        form = {"signer": Recipient.STUDENT.value, "key": self._key(reference)}
        if await self._send(client, "GET", page, params=form) is None:
            return
        signed = await self._send(client, "POST", page, data=form | {"action": "sign"})
        if signed is None or signed.status_code != 200:
            return
        notification = Notification(
            event_id=uuid.uuid4().hex,
            reference=reference,
            event=NotificationEvent.RECIPIENT_FINISHED,
            recipient=Recipient.STUDENT,
        )
        webhook = notification.model_dump_json().encode()
        delivered = await self._send(
            client,
            "POST",
            WEBHOOK_PATH,
            content=webhook,
            headers={SIGNATURE_HEADER: sign_body(self.secret, webhook)},
        )
        if delivered is not None and delivered.status_code < 300:
            self.signed.append(order_id)

    def _key(self, reference: str) -> str:
        return signer_key(secret=self.secret, reference=reference, recipient=Recipient.STUDENT)

    async def _promo(self, client: httpx.AsyncClient, headers: dict) -> None:
        """A fresh member activates a code of its own into its cart."""
        if not self.codes:
            return
        cart = await self._send(client, "GET", "/api/v2/carts", headers=headers)
        if cart is None or cart.status_code != 200:
            return
        code = self.codes.pop()
        path = f"/api/v2/carts/{cart.json()['id']}/promocodes/activate"
        answer = await self._send(client, "POST", path, json={"promocode": code}, headers=headers)
        if answer is not None and answer.status_code == 200:
            self.activated.append(code)

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
                # A learner of its own per step: one active order per
                # offering, one cart per member.
                learner = f"soak-{number}-{step}"
                headers = {"Authorization": f"Bearer {bench_token(learner)}"}
                kind = self.STEPS[step % len(self.STEPS)]
                if kind == "read":
                    await self._read(client, headers, step)
                else:
                    await getattr(self, f"_{kind}")(client, headers)
                step += 1

    def figures(self) -> dict:
        return {
            "requests": self.requests,
            "failures": dict(self.failures),
            "created": self.created,
            "signed": self.signed,
            "activated": self.activated,
            "read_p99_by_window": {
                str(window): percentile(values, 0.99)
                for window, values in sorted(self.windows.items())
            },
        }


def _what(path: str) -> str:
    """A failure's label: the path's third segment (`orders`, `carts`…)."""
    return path.split("/")[3] if path.count("/") >= 3 else path


def _page_of(link: str) -> tuple[str, str]:
    """The provider's signing page (its path) and the procedure's reference."""
    path = urlsplit(link).path
    return path, path.rsplit("/", 1)[1]


async def _soak(args: argparse.Namespace) -> dict:
    soak = Soak(args)
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
    soak.add_argument("--contract", required=True, help="a free offering with a contract")
    soak.add_argument("--codes", required=True, help="a file of promo codes, one a line")
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
