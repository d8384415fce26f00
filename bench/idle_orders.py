"""10,000 orders sleeping on future installments, one worker, against
PostgreSQL and a Temporal dev server.

Bars (spec 60-quality): the worker's memory stays under 1 GB, and the API's
latency is unchanged by them. Each order is created and its card saved
through the API (it is then `pending`, its workflow asleep on a durable timer
until its first installment, 60 days ahead). The API's latency is measured
with wrk on a learner's order list and on an order, before the orders exist
and again once they all sleep; the worker's resident memory is read from
/proc. The load comes from `bench.load` and wrk, processes of their own.

    .venv/bin/python -m bench.idle_orders [--count 10000]
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import httpx

from bench.common import (
    ROOT,
    api_env,
    bench_token,
    guichet_worker,
    scratch_database,
    temporal_dev_server,
    uvicorn,
)
from bench.orders import _seed, _states, load
from bench.read_api import Figures, _measure
from cli import free_port

RSS_BAR_MB = 1024.0
# "Unchanged": within the run-to-run noise of this machine, taken as 25 %.
LATENCY_TOLERANCE = 1.25


def _rss_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak) of a process, in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return tuple(int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def _wrk_with_token(url: str, token: str) -> Figures:
    """bench.read_api's wrk run, with the learner's bearer token."""
    script = Path(ROOT / ".guichet" / "bench" / "bearer.lua")
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    return _measure(url, seconds=10, connections=16, script=str(script))


def _latencies(api: str, token: str, order_id: str) -> dict[str, Figures]:
    return {
        "GET /api/v1/orders": _wrk_with_token(f"{api}/api/v1/orders", token),
        "GET /api/v1/orders/{id}": _wrk_with_token(f"{api}/api/v1/orders/{order_id}", token),
    }


def _one_order(api: str, offering: str, token: str) -> str:
    from tests.api.tunnel import ADDRESS, CARD

    headers = {"Authorization": f"Bearer {token}"}
    body = {"offering_id": offering, "billing_address": ADDRESS}
    order = httpx.post(f"{api}/api/v1/orders", json=body, headers=headers, timeout=30).json()
    httpx.post(
        f"{api}/api/v1/orders/{order['id']}/payment-method", json=CARD, headers=headers, timeout=30
    ).raise_for_status()
    return order["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    with scratch_database() as url, temporal_dev_server() as address:
        _free, paid = asyncio.run(_seed(url))
        env = api_env(url, temporal_address=address, task_queue="bench-idle")
        port = free_port()
        api = f"http://127.0.0.1:{port}"
        token = bench_token("bench-watcher")
        with (
            guichet_worker(env) as worker,
            uvicorn("api.app:app_from_environment", port, env, factory=True),
        ):
            watched = _one_order(api, paid, token)
            before = _latencies(api, token, watched)
            rss_before, _ = _rss_mb(worker.pid)
            created = load(
                "orders", "--url", api, "--paid", paid,
                "--count", str(args.count), "--concurrency", "32",
            )  # fmt: skip
            after = _latencies(api, token, watched)
            rss_now, rss_peak = _rss_mb(worker.pid)
        states = asyncio.run(_states(url))
    if states.get("pending") != args.count + 1:
        raise SystemExit(f"orders {states}, answers {created['outcomes']}")
    print(
        f"idle_orders {args.count} orders asleep on their installments "
        f"(created at {args.count / created['seconds']:.0f}/s)"
    )
    print(
        f"idle_orders worker RSS {rss_before:6.0f} MB before, {rss_now:6.0f} MB after, "
        f"peak {rss_peak:6.0f} MB  (bar < {RSS_BAR_MB:.0f} MB: "
        f"{'met' if rss_peak < RSS_BAR_MB else 'MISSED'}, {RSS_BAR_MB / rss_peak:.2f}x the bar)"
    )
    for name, figures in before.items():
        later = after[name]
        ratio = later.p99_ms / figures.p99_ms
        unchanged = ratio <= LATENCY_TOLERANCE
        print(
            f"idle_orders {name:<24} p99 {figures.p99_ms:6.1f} ms before, {later.p99_ms:6.1f} ms "
            f"after ({ratio:.2f}x); {figures.requests_per_second:6.0f} -> "
            f"{later.requests_per_second:6.0f} req/s  "
            f"({'unchanged' if unchanged else 'CHANGED'} within {LATENCY_TOLERANCE:.2f}x)"
        )


if __name__ == "__main__":
    main()
