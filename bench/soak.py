"""Sustained load with nothing lost (spec 65): PostgreSQL, two API processes
and two workers, rate limits in Redis, mixed load (orders with cards and
reads) from a process of its own at a fixed concurrency for 30 minutes
(`--minutes` for shorter runs).

It prints the requests and failures (any 5xx or broken connection), the
orders created against those in the database and in Temporal (its
visibility, by the GuichetKind search attribute), the workers' resident
memory each minute and the read p99 of each 5-minute window. Bars: 0
failures; every order in all three places; worker RSS growth < 10 % over the
last 20 minutes; the last window's read p99 at most 1.25 times the first.

    .venv/bin/python -m bench.soak [--minutes 30] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from contextlib import ExitStack

from sqlalchemy import func, select
from temporalio.client import Client

from bench.common import api_env, guichet_worker, scratch_database, temporal_dev_server, uvicorn
from bench.idle_orders import _rss_mb
from bench.orders import _seed, load
from cli import free_port
from models.orders import Order
from models.session import create_engine, create_sessionmaker

REDIS = "redis://127.0.0.1:6379/0"
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
    with scratch_database() as url, temporal_dev_server() as address, ExitStack() as stack:
        _free, paid = asyncio.run(_seed(url))
        env = api_env(
            url, temporal_address=address, task_queue="bench-soak", ratelimit_storage_url=REDIS
        )
        workers = [stack.enter_context(guichet_worker(env)) for _ in range(2)]
        ports = [free_port() for _ in range(2)]
        for port in ports:
            stack.enter_context(uvicorn("api.app:app_from_environment", port, env, factory=True))
        urls = ",".join(f"http://127.0.0.1:{port}" for port in ports)
        started = time.monotonic()
        with RssSampler([worker.pid for worker in workers]) as rss:
            figures = load(
                "soak", "--urls", urls, "--paid", paid,
                "--minutes", str(args.minutes), "--concurrency", str(args.concurrency),
            )  # fmt: skip
        elapsed = time.monotonic() - started
        created = figures["created"]
        in_database = asyncio.run(_in_database(url, created))
        in_temporal = asyncio.run(_in_temporal(address))
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
