"""Hot read paths against PostgreSQL: `GET /api/v1/offerings/{id}/deep-link`
and `GET /api/v1/academy-products` (50 academies with their prices).

Bar (spec 60-quality): at least 0.8 of the req/s of a bare FastAPI route
returning constant JSON, served with the same uvicorn settings and measured in
the same run, and p99 < 25 ms; one uvicorn worker, 64 keep-alive connections
from a separate process (wrk), 10 s. The three servers run side by side and
are measured in turn, `--rounds` times; each figure is the median of its
rounds, so a noisy neighbour hits the reference and the subject alike.

    .venv/bin/python -m bench.read_api [--seconds 10] [--connections 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import delete, select

from bench.common import api_env, scratch_database, uvicorn
from cli import free_port
from models.academies import Academy, AcademyPrice
from models.deep_links import OfferingDeepLink
from models.session import create_engine, create_sessionmaker
from services.demo import seed_demo

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RATIO_BAR = 0.8
P99_BAR_MS = 25.0


@dataclass
class Figures:
    requests_per_second: float
    p99_ms: float
    errors: int


ACADEMIES = 50


async def _seed(url: str) -> str:
    engine = create_engine(url)
    async with create_sessionmaker(engine).begin() as session:
        await seed_demo(session)
        offering_id = await session.scalar(
            select(OfferingDeepLink.offering_id).where(OfferingDeepLink.is_active).limit(1)
        )
        await session.execute(delete(Academy))
        for number in range(ACADEMIES):
            session.add(_academy(number))
            session.add(_price(number))
    await engine.dispose()
    return str(offering_id)


def _academy(number: int) -> Academy:
    return Academy(
        name=f"Academy {number}",
        long_name=f"The academy number {number}",
        description="Courses to learn a trade, from the basics to a certificate. " * 4,
        marketing_url=f"https://academies.example.org/{number}",
        thumbnail_url=f"/media/academy-{number}.png",
        tags=["bench", f"group-{number % 5}"],
        stripe_product_id=f"prod_bench_{number}",
        stripe_price_lookup_key=f"academy-{number}-monthly",
        catalog_query_id=number,
        product_key=f"academy-{number}",
        slug=f"academy-{number}",
        display_order=number,
    )


def _price(number: int) -> AcademyPrice:
    return AcademyPrice(
        lookup_key=f"academy-{number}-monthly",
        id=f"price_bench_{number}",
        product=f"prod_bench_{number}",
        currency="eur",
        unit_amount=2900 + number,
        unit_amount_decimal=str(2900 + number),
        recurring={"interval": "month", "interval_count": 1},
    )


_LATENCY_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(url: str, *, seconds: int, connections: int, script: str | None = None) -> Figures:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", script]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if socket_errors:
        print(f"  wrk socket errors: {socket_errors.group(1)}")
    return Figures(rate, float(value) * _LATENCY_UNITS[unit], int(errors.group(1)) if errors else 0)


def _measure(url: str, *, seconds: int, connections: int, script: str | None = None) -> Figures:
    _wrk(url, seconds=2, connections=connections, script=script)  # warm-up: connections, caches
    return _wrk(url, seconds=seconds, connections=connections, script=script)


def _median(rounds: list[Figures]) -> Figures:
    return Figures(
        statistics.median(item.requests_per_second for item in rounds),
        statistics.median(item.p99_ms for item in rounds),
        sum(item.errors for item in rounds),
    )


def _line(name: str, figures: Figures) -> str:
    return (
        f"read_api {name:<34} {figures.requests_per_second:9.0f} req/s  "
        f"p99 {figures.p99_ms:6.1f} ms  non-2xx {figures.errors}"
    )


def _verdict(name: str, subject: Figures, reference: Figures) -> list[str]:
    ratio = subject.requests_per_second / reference.requests_per_second
    p99_met = "met" if subject.p99_ms < P99_BAR_MS else "MISSED"
    return [
        f"read_api {name + ' ratio':<34} {ratio:9.2f}  (bar >= {RATIO_BAR}: {ratio / RATIO_BAR:.2f}x the bar)",
        f"read_api {name + ' p99':<34} {subject.p99_ms:9.1f} ms (bar < {P99_BAR_MS:.0f} ms: {p99_met})",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk (make bench does it)")
    rounds: dict[str, list[Figures]] = {"reference": [], "deep-link": [], "academy-products": []}
    with scratch_database() as database_url:
        offering_id = asyncio.run(_seed(database_url))
        # The catalogue's per-IP throttle would answer 429 to a load from one address.
        env = api_env(database_url, academy_rate_limit="1000000000/minute")
        reference_port, api_port = free_port(), free_port()
        urls = {
            "reference": f"http://127.0.0.1:{reference_port}/constant",
            "deep-link": f"http://127.0.0.1:{api_port}/api/v1/offerings/{offering_id}/deep-link",
            "academy-products": f"http://127.0.0.1:{api_port}/api/v1/academy-products",
        }
        with (
            uvicorn("bench.reference_app:app", reference_port, env),
            uvicorn("api.app:app_from_environment", api_port, env, factory=True),
        ):
            products = httpx.get(urls["academy-products"]).json()
            assert products["count"] == ACADEMIES, products
            for _ in range(args.rounds):
                for name, url in urls.items():
                    rounds[name].append(
                        _measure(url, seconds=args.seconds, connections=args.connections)
                    )
    figures = {name: _median(items) for name, items in rounds.items()}
    print(_line("reference constant JSON", figures["reference"]))
    print(_line("GET offerings/{id}/deep-link", figures["deep-link"]))
    print(_line("GET academy-products (50)", figures["academy-products"]))
    for name in ("deep-link", "academy-products"):
        for line in _verdict(name, figures[name], figures["reference"]):
            print(line)


if __name__ == "__main__":
    main()
