"""Hot read path: `GET /api/v1/offerings/{id}/deep-link` against PostgreSQL.

Bar (spec 60-quality): at least 0.5 of the req/s of a bare FastAPI route
returning constant JSON, served with the same uvicorn settings and measured in
the same run, and p99 < 50 ms; one uvicorn worker, 64 keep-alive connections
from a separate process (wrk), 10 s.

    .venv/bin/python -m bench.read_api [--seconds 10] [--connections 64]

The academy-products row of the same bench is added with that feature.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from bench.common import api_env, scratch_database, uvicorn
from cli import free_port
from models.deep_links import OfferingDeepLink
from models.demo import seed_demo
from models.session import create_engine, create_sessionmaker

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RATIO_BAR = 0.5
P99_BAR_MS = 50.0


@dataclass
class Figures:
    requests_per_second: float
    p99_ms: float
    errors: int


async def _seed(url: str) -> str:
    engine = create_engine(url)
    async with create_sessionmaker(engine).begin() as session:
        await seed_demo(session)
        offering_id = await session.scalar(
            select(OfferingDeepLink.offering_id).where(OfferingDeepLink.is_active).limit(1)
        )
    await engine.dispose()
    return str(offering_id)


_LATENCY_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(url: str, *, seconds: int, connections: int) -> Figures:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if socket_errors:
        print(f"  wrk socket errors: {socket_errors.group(1)}")
    return Figures(rate, float(value) * _LATENCY_UNITS[unit], int(errors.group(1)) if errors else 0)


def _measure(url: str, *, seconds: int, connections: int) -> Figures:
    _wrk(url, seconds=2, connections=connections)  # warm-up: connections, caches, JIT-free paths
    return _wrk(url, seconds=seconds, connections=connections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk (make bench does it)")
    with scratch_database() as database_url:
        offering_id = asyncio.run(_seed(database_url))
        env = api_env(database_url)
        port = free_port()
        with uvicorn("bench.reference_app:app", port, env):
            reference = _measure(
                f"http://127.0.0.1:{port}/constant",
                seconds=args.seconds,
                connections=args.connections,
            )
        port = free_port()
        with uvicorn("api.app:app_from_environment", port, env, factory=True):
            deep_link = _measure(
                f"http://127.0.0.1:{port}/api/v1/offerings/{offering_id}/deep-link",
                seconds=args.seconds,
                connections=args.connections,
            )
    ratio = deep_link.requests_per_second / reference.requests_per_second
    print(
        f"read_api reference constant JSON     {reference.requests_per_second:9.0f} req/s  p99 {reference.p99_ms:6.1f} ms  errors {reference.errors}"
    )
    print(
        f"read_api GET offerings/{{id}}/deep-link {deep_link.requests_per_second:9.0f} req/s  p99 {deep_link.p99_ms:6.1f} ms  errors {deep_link.errors}"
    )
    print(
        f"read_api deep-link ratio to reference {ratio:9.2f}  (bar >= {RATIO_BAR}: {ratio / RATIO_BAR:.2f}x the bar)"
    )
    print(
        f"read_api deep-link p99               {deep_link.p99_ms:9.1f} ms (bar < {P99_BAR_MS} ms: {'met' if deep_link.p99_ms < P99_BAR_MS else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
