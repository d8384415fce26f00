"""Sustained load with nothing lost (spec 65): PostgreSQL, two API processes
and two workers, rate limits in Redis, mixed load (orders with cards,
contracts signed with the provider's webhook, promo-code activations,
reads) from a process of its own at a fixed concurrency for 30 minutes
(`--minutes` for shorter runs).

It prints the requests and failures (any 5xx or broken connection), the
orders created against those in the database and in Temporal (its
visibility, by the GuichetKind search attribute), the signed contracts'
orders completed, the codes activated against those used in the database,
the workers' resident memory each minute and the read p99 of each 5-minute
window. Bars: 0 failures; every order in all three places; every signed
order completed; every activated code used once; worker RSS growth < 10 %
over the last 20 minutes; the last window's read p99 at most 1.25 times the
first.

    .venv/bin/python -m bench.soak [--minutes 30] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from temporalio.client import Client

from bench.common import api_env, guichet_worker, scratch_database, temporal_dev_server, uvicorn
from bench.idle_orders import _rss_mb
from bench.orders import _seed, load
from cli import free_port
from domain.promo_codes import CampaignStatus
from models import promo_codes
from models.orders import Order
from models.promo_codes import PromoCode
from models.session import create_engine, create_sessionmaker
from tests.factories import Factory

REDIS = "redis://127.0.0.1:6379/0"
# More than the load activates in a minute (about 5 a second at 32 clients).
CODES_PER_MINUTE = 1_000
RSS_GROWTH_BAR = 0.10
READ_P99_BAR = 1.25


class RssSampler:
    """The workers' resident memory (MB, summed), once a minute."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(sum(_rss_mb(pid)[0] for pid in self.pids))
            self._stop.wait(60)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


async def _in_database(url: str, ids: list[str]) -> int:
    engine = create_engine(url)
    async with create_sessionmaker(engine)() as session:
        count = await session.scalar(select(func.count()).select_from(Order))
    await engine.dispose()
    return int(count or 0)


async def _seed_contract_and_codes(url: str, count: int) -> tuple[str, list[str]]:
    """A free course with a contract (its organization has a signatory), and
    a ready campaign of `count` codes: the offering, the codes."""
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    factory = Factory(sessionmaker)
    org = await factory.organization(
        signatories=[{"name": "Claire Martin", "email": "claire@univ.example"}]
    )
    course = await factory.course(organizations=[org])
    start = datetime.now(UTC) + timedelta(days=60)
    run = await factory.course_run(course=course, start=start, end=start + timedelta(days=90))
    product = await factory.product(price="0.00", contract_required=True, target_course_runs=[run])
    offering = await factory.offering(course=course, product=product, organizations=[org])
    campaign = await factory.campaign(
        name="Soak", count=count, client_code="SOAK", status=CampaignStatus.READY.value
    )
    async with sessionmaker.begin() as session:
        await promo_codes.fill_batch(session=session, campaign_id=campaign.id, batch_size=count)
    async with sessionmaker() as session:
        found = await session.scalars(promo_codes.codes_query(campaign_id=campaign.id, used=False))
        codes = [item.code for item in found]
    await engine.dispose()
    return str(offering.id), codes


async def _settled(url: str, signed: list[str], activated: list[str]) -> tuple[int, int]:
    """(signed orders `completed`, activated codes used), once the workflows
    have caught up (a minute at most)."""
    engine = create_engine(url)
    order_ids = [uuid.UUID(item) for item in signed]
    deadline = time.monotonic() + 60
    async with create_sessionmaker(engine)() as session:
        while True:
            completed = await session.scalar(
                select(func.count())
                .select_from(Order)
                .where(Order.id.in_(order_ids), Order.state == "completed")
            )
            if completed == len(order_ids) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        used = await session.scalar(
            select(func.count())
            .select_from(PromoCode)
            .where(PromoCode.code.in_(activated), PromoCode.used_by.is_not(None))
        )
    await engine.dispose()
    return int(completed or 0), int(used or 0)


async def _in_temporal(address: str) -> int:
    client = await Client.connect(address)
    # Visibility follows within moments: ask until two answers agree.
    previous = -1
    for _ in range(60):
        counted = (await client.count_workflows("GuichetKind='order'")).count
        if counted == previous:
            return counted
        previous = counted
        await asyncio.sleep(1)
    return previous


def _rss_growth(samples: list[float]) -> float:
    """Growth over the last 20 minutes (or the whole run, if shorter)."""
    window = samples[-21:]
    return (window[-1] - window[0]) / window[0] if len(window) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with (
        scratch_database() as url,
        temporal_dev_server() as address,
        tempfile.TemporaryDirectory() as folder,
        ExitStack() as stack,
    ):
        _free, paid = asyncio.run(_seed(url))
        contract, codes = asyncio.run(
            _seed_contract_and_codes(url, CODES_PER_MINUTE * math.ceil(args.minutes))
        )
        codes_file = Path(folder) / "codes.txt"
        codes_file.write_text("\n".join(codes) + "\n")
        ports = [free_port() for _ in range(2)]
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        env = api_env(
            url,
            temporal_address=address,
            task_queue="bench-soak",
            ratelimit_storage_url=REDIS,
            public_url=urls[0],
            # The provider's webhooks are the load's, counted with it.
            dummy_signature_webhook_drop_rate="1.0",
            # Every activation comes from this machine's one address.
            promo_activation_rate_limit_ip="1000000/minute",
        )
        workers = [stack.enter_context(guichet_worker(env)) for _ in range(2)]
        for port in ports:
            stack.enter_context(uvicorn("api.app:app_from_environment", port, env, factory=True))
        started = time.monotonic()
        with RssSampler([worker.pid for worker in workers]) as rss:
            figures = load(
                "soak", "--urls", ",".join(urls), "--paid", paid, "--contract", contract,
                "--codes", str(codes_file),
                "--minutes", str(args.minutes), "--concurrency", str(args.concurrency),
            )  # fmt: skip
        elapsed = time.monotonic() - started
        created = figures["created"]
        in_database = asyncio.run(_in_database(url, created))
        in_temporal = asyncio.run(_in_temporal(address))
        completed, used = asyncio.run(_settled(url, figures["signed"], figures["activated"]))
    failures = sum(figures["failures"].values())
    windows = figures["read_p99_by_window"]
    first, last = windows[min(windows, key=int)], windows[max(windows, key=int)]
    growth = _rss_growth(rss.samples)
    print(
        f"soak {args.minutes:g} min, {args.concurrency} clients, 2 APIs + 2 workers: "
        f"{figures['requests']} requests in {elapsed:.0f} s, {failures} failures "
        f"(bar 0: {'met' if failures == 0 else 'MISSED'}) {figures['failures'] or ''}"
    )
    lost = not (len(created) == in_database == in_temporal)
    print(
        f"soak orders created {len(created)}, in the database {in_database}, in Temporal "
        f"{in_temporal} (bar: all equal: {'MISSED' if lost else 'met'})"
    )
    signed, activated = len(figures["signed"]), len(figures["activated"])
    print(
        f"soak contracts signed through the provider's webhook {signed}, their orders "
        f"completed {completed} (bar: all: {'met' if completed == signed else 'MISSED'}); "
        f"codes activated {activated}, used in the database {used} "
        f"(bar: all: {'met' if used == activated else 'MISSED'})"
    )
    print(
        f"soak worker RSS (MB, both) each minute: {', '.join(f'{s:.0f}' for s in rss.samples)}; "
        f"growth {growth:+.1%} over the last 20 minutes (bar < {RSS_GROWTH_BAR:.0%}: "
        f"{'met' if growth < RSS_GROWTH_BAR else 'MISSED'})"
    )
    ratio = last / first
    print(
        "soak read p99 by 5-minute window (ms): "
        f"{', '.join(f'{value * 1000:.0f}' for _, value in sorted(windows.items()))}; "
        f"last / first {ratio:.2f} (bar <= {READ_P99_BAR}: "
        f"{'met' if ratio <= READ_P99_BAR else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
