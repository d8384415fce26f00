"""What every bench shares: a scratch PostgreSQL database at the schema's head,
and the API served by uvicorn in a process of its own."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from models import migrate
from tests.conftest import _create_postgres_database, _drop_postgres_database

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
JWT_SECRET = "bench-" + "x" * 40


def admin_url() -> str:
    return os.environ.get("GUICHET_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)


@contextmanager
def scratch_database() -> Iterator[str]:
    """A new database next to GUICHET_BENCH_DATABASE_URL's, migrated, dropped after."""
    url = asyncio.run(_create_postgres_database(admin_url()))
    try:
        migrate.upgrade(url)
        yield url
    finally:
        asyncio.run(_drop_postgres_database(admin_url(), url))


def api_env(database_url: str, **settings: str) -> dict[str, str]:
    return (
        dict(os.environ)
        | {
            "GUICHET_DATABASE_URL": database_url,
            "GUICHET_JWT_SECRET": JWT_SECRET,
            "GUICHET_DATA_DIR": str(ROOT / ".guichet" / "bench"),
            # The dummy payment and signature backends, on purpose.
            "GUICHET_ALLOW_DUMMY_PROVIDERS": "true",
        }
        | {f"GUICHET_{name.upper()}": value for name, value in settings.items()}
    )


@contextmanager
def uvicorn(
    app: str, port: int, env: dict[str, str], factory: bool = False, workers: int = 1
) -> Iterator[subprocess.Popen[bytes]]:
    """uvloop + httptools, no access log, one worker unless told: the same for
    every app measured."""
    command = [
        sys.executable, "-m", "uvicorn", app, "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    if factory:
        command.append("--factory")
    with _log_file(app.split(":")[0]) as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(15)


LOG_KEEP_BYTES = 100 * 1024 * 1024


def _log_file(name: str):
    """Where a bench's server process writes its log: .guichet/bench/<name>.log,
    kept after the run (errors under load are read there)."""
    directory = ROOT / ".guichet" / "bench"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.log"
    # Appended to by the processes of a run (two APIs share one); a run
    # that finds it large starts it afresh: read_api logs 10,000 lines a second.
    if path.exists() and path.stat().st_size > LOG_KEEP_BYTES:
        path.unlink()
    return path.open("ab")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (Linux VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM: not Linux?")


@contextmanager
def temporal_dev_server() -> Iterator[str]:
    """`temporal server start-dev` (in memory, no UI) in a process of its own;
    yields its address once it answers."""
    from temporalio.client import Client

    from cli import free_port, temporal_binary
    from workflows import search

    port = free_port()
    address = f"127.0.0.1:{port}"
    command = [temporal_binary(), "server", "start-dev", "--headless", "--log-level", "error"]
    process = subprocess.Popen(
        [*command, *search.dev_server_flags(), "--ip", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    async def answers() -> None:
        for _ in range(300):
            try:
                await Client.connect(address)
                return
            except RuntimeError:
                await asyncio.sleep(0.1)
        raise RuntimeError(f"Temporal did not start at {address}")

    try:
        asyncio.run(answers())
        yield address
    finally:
        process.terminate()
        process.wait(15)


@contextmanager
def guichet_worker(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`guichet worker` in a process of its own."""
    with _log_file("worker") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "worker"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(30)


def bench_token(sub: str, roles: tuple[str, ...] = ()) -> str:
    from api.auth import Claims, encode_token

    claims = Claims(sub=sub, email=f"{sub}@bench.example", name=sub, roles=list(roles))
    return encode_token(claims=claims, secret=JWT_SECRET, algorithm="HS256")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
