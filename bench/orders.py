"""Orders through the API until each workflow has written its state, against
PostgreSQL and a Temporal dev server.

Bar (spec 60-quality): at least 0.3 of the rate of the same count of empty
workflows started and run to their end on the same server, measured in the
same run. Half the orders are for a free product (created `completed`), half
for a paid 3-installment one (created, then its card saved: `pending`). The
API (one uvicorn worker) and `guichet worker` run as processes of their own;
the load is `bench.load`, another process, 32 requests in flight.

    .venv/bin/python -m bench.orders [--count 1000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bench.common import (
    ROOT,
    api_env,
    guichet_worker,
    scratch_database,
    temporal_dev_server,
    uvicorn,
)
from cli import free_port
from models.orders import Order
from models.session import create_engine, create_sessionmaker
from tests.factories import Factory

RATIO_BAR = 0.3


async def _seed(url: str) -> tuple[str, str]:
    """A free offering and a paid one whose course starts in 60 days (its
    installments are not due during the bench)."""
    engine = create_engine(url)
    factory = Factory(create_sessionmaker(engine))
    org = await factory.organization()
    course = await factory.course(organizations=[org])
    start = datetime.now(UTC) + timedelta(days=60)
    run = await factory.course_run(course=course, start=start, end=start + timedelta(days=90))
    free = await factory.product(price="0.00", target_course_runs=[run])
    paid = await factory.product(price="450.00", target_course_runs=[run])
    offerings = [
        await factory.offering(course=course, product=product, organizations=[org])
        for product in (free, paid)
    ]
    await engine.dispose()
    return str(offerings[0].id), str(offerings[1].id)


async def _states(url: str) -> dict[str, int]:
    engine = create_engine(url)
    async with create_sessionmaker(engine)() as session:
        rows = await session.execute(select(Order.state, func.count()).group_by(Order.state))
        counted = {state: count for state, count in rows.all()}
    await engine.dispose()
    return counted


def load(*arguments: str) -> dict:
    """`bench.load` in a process of its own; its figures."""
    command = [sys.executable, "-m", "bench.load", *arguments]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"bench.load {' '.join(arguments[:1])} failed:\n{run.stderr[-4000:]}")
    return json.loads(run.stdout.splitlines()[-1])


def _reference(address: str, count: int, concurrency: int) -> dict:
    queue = f"bench-empty-{uuid.uuid4()}"
    command = [sys.executable, "-m", "bench.empty_workflow", "--address", address, "--queue", queue]
    worker = subprocess.Popen(command, cwd=ROOT)
    try:
        load("empty", "--address", address, "--queue", queue, "--count", "50")  # warm-up
        return load(
            "empty", "--address", address, "--queue", queue,
            "--count", str(count), "--concurrency", str(concurrency),
        )  # fmt: skip
    finally:
        worker.terminate()
        worker.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with scratch_database() as url, temporal_dev_server() as address:
        free, paid = asyncio.run(_seed(url))
        reference = _reference(address, args.count, args.concurrency)
        env = api_env(url, temporal_address=address, task_queue="bench-orders")
        port = free_port()
        with guichet_worker(env), uvicorn("api.app:app_from_environment", port, env, factory=True):
            orders = load(
                "orders", "--url", f"http://127.0.0.1:{port}", "--free", free, "--paid", paid,
                "--count", str(args.count), "--concurrency", str(args.concurrency),
            )  # fmt: skip
        states = asyncio.run(_states(url))
    expected = {"completed": (args.count + 1) // 2, "pending": args.count // 2}
    if states != expected:
        raise SystemExit(
            f"orders ended {states}, answers {orders['outcomes']}; expected {expected}"
        )
    reference_rate = args.count / reference["seconds"]
    rate = args.count / orders["seconds"]
    ratio = rate / reference_rate
    print(
        f"orders reference: {args.count} empty workflows run   {reference_rate:8.1f} /s  "
        f"p95 {reference['p95'] * 1000:6.0f} ms"
    )
    print(
        f"orders {args.count} orders written (free + paid)    {rate:8.1f} /s  "
        f"p95 {orders['p95'] * 1000:6.0f} ms per order (create, card)"
    )
    print(
        f"orders ratio to the empty workflow           {ratio:8.2f}  (bar >= {RATIO_BAR}: "
        f"{ratio / RATIO_BAR:.2f}x the bar)"
    )


if __name__ == "__main__":
    main()
