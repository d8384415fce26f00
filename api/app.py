"""The FastAPI application: `create_app(settings)`, used by uvicorn and tests."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CollectorRegistry

from api.cache import ReadCache
from api.deps import KnownUsers
from api.errors import install_error_handlers
from api.hot_reads import HotReads
from api.observability import HttpMetrics, ObservabilityMiddleware
from api.pages import academies as academy_pages
from api.pages import access
from api.pages import accounting as accounting_pages
from api.pages import catalog as catalog_pages
from api.pages import deep_links as deep_link_pages
from api.pages import orders as order_pages
from api.pages import promo_codes as promo_code_pages
from api.pages import vouchers as voucher_pages
from api.ratelimit import RateLimiter
from api.request_limits import RequestLimits
from api.routers import (
    academies,
    accounting,
    carts,
    catalog,
    codec,
    contracts,
    deep_links,
    dev,
    docs,
    enrollments,
    health,
    invoices,
    orders,
    payments,
    promo_codes,
    subscriptions,
    vouchers,
)
from integrations import temporal
from integrations.payload_codec import AesGcmCodec
from integrations.payments import payment_provider
from integrations.payments.dummy import DummyCharge
from integrations.signature import signature_provider
from integrations.signature.dummy import DummyProcedure
from models import cache_notices
from models.payments import SqlChargeStore
from models.session import autocommit, create_engine, create_sessionmaker
from models.signatures import SqlProcedureStore
from settings import Settings

DESCRIPTION = """Open commerce back end for online learning.

Authenticate with `Authorization: Bearer <JWT>` signed with the server's secret
(`guichet token` prints one). Errors are
`{"error": {"code": "...", "message": "...", "details": ...}}`.
Lists are paginated as `{"count", "next", "previous", "results"}`."""

TAGS = [
    {"name": "offerings", "description": "Public catalogue: search and read offerings."},
    {"name": "deep-links", "description": "CPF deep links: external subscription links."},
    {"name": "admin: catalogue", "description": "Back-office CRUD of the catalogue."},
    {"name": "admin: deep links", "description": "Back-office management of deep links."},
    {"name": "orders", "description": "The learner's orders: create, pay, cancel."},
    {"name": "admin: orders", "description": "Back-office management of orders."},
    {"name": "contracts", "description": "Contracts and their electronic signature."},
    {"name": "invoices", "description": "An order's invoices, credit notes and transactions."},
    {"name": "enrollments", "description": "The course runs a learner's orders gave access to."},
    {"name": "memberships", "description": "The memberships a member's carts gave them."},
    {"name": "admin: contracts", "description": "Back-office view of contracts."},
    {"name": "webhooks", "description": "Notifications from providers."},
    {"name": "dummy signature", "description": "The embedded signature page (dummy backend)."},
    {"name": "academy products", "description": "Public, throttled catalogue of academies."},
    {"name": "checkout intents", "description": "Buying an academy subscription."},
    {"name": "subscriptions", "description": "A learner's academy subscriptions."},
    {"name": "admin: academies", "description": "The catalogue sync, on demand."},
    {"name": "ops", "description": "Health, readiness and metrics."},
    {"name": "dev", "description": "Development helpers (GUICHET_DEV_MODE only)."},
]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Lazy: the API starts and serves catalogue reads while Temporal is away;
    # /readyz says so.
    app.state.temporal = await temporal.connect(app.state.settings, lazy=True)
    listening = _listen_for_cache_notices(app)
    try:
        yield
    finally:
        if listening is not None:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
        await app.state.engine.dispose()


def _listen_for_cache_notices(app: FastAPI) -> asyncio.Task[None] | None:
    """Other processes' writes empty this one's read cache (PostgreSQL)."""
    engine = app.state.engine
    if not cache_notices.supported(engine) or app.state.settings.read_cache_seconds <= 0:
        return None
    return asyncio.create_task(
        cache_notices.listen(engine, lambda: app.state.read_cache.clear()),
        name="read-cache notices",
    )


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="Guichet",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        # Served by api/routers/docs.py from local assets (no CDN).
        docs_url=None,
        redoc_url=None,
        # Our metrics are Prometheus's and our request log (api/observability.py);
        # FastAPI's OpenTelemetry hooks looked for providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    settings.check_providers()
    app.state.settings = settings
    app.state.engine = create_engine(
        settings.effective_database_url,
        echo=settings.database_echo,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    app.state.sessionmaker = create_sessionmaker(app.state.engine)
    app.state.read_engine = autocommit(app.state.engine)
    app.state.read_sessionmaker = create_sessionmaker(app.state.read_engine)
    app.state.signature_provider = signature_provider(
        settings, store=SqlProcedureStore(app.state.sessionmaker, record=DummyProcedure)
    )
    app.state.payment_provider = payment_provider(
        settings, store=SqlChargeStore(app.state.sessionmaker, record=DummyCharge)
    )
    app.state.metrics = HttpMetrics(CollectorRegistry())
    app.state.rate_limiter = RateLimiter(settings.ratelimit_storage_url)
    app.state.known_users = KnownUsers()
    app.state.read_cache = ReadCache(settings.read_cache_seconds)
    # What the admin routes call once a write is committed.
    app.state.announce_cache_clear = lambda: cache_notices.announce(app.state.engine)
    install_error_handlers(app)
    # Innermost: inside the request log, the metrics and CORS.
    app.add_middleware(HotReads, state=app.state)
    access.install(app)
    app.add_middleware(RequestLimits, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        # Browsers of these origins only; a preflight from another gets no
        # CORS headers (and its page cannot read the answer).
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    # Outside the body limit: a refused body is logged and counted too.
    app.add_middleware(ObservabilityMiddleware, metrics=app.state.metrics)
    # Matching walks routers in this order: the hot public reads come first.
    for router in (
        deep_links.public_router,
        catalog.public_router,
        academies.public_router,
        health.router,
        orders.router,
        orders.plan_router,
        contracts.router,
        contracts.orders_router,
        enrollments.router,
        carts.memberships_router,
        invoices.router,
        contracts.webhooks_router,
        payments.router,
        payments.dummy_router,
        contracts.dummy_router,
        catalog.admin_router,
        deep_links.admin_router,
        orders.admin_router,
        vouchers.router,
        contracts.admin_router,
        academies.admin_router,
        academies.intents_router,
        subscriptions.router,
        promo_codes.router,
        accounting.router,
        carts.router,
        dev.router,
        access.router,
        deep_link_pages.router,
        catalog_pages.router,
        order_pages.router,
        voucher_pages.router,
        promo_code_pages.router,
        accounting_pages.router,
        academy_pages.router,
    ):
        app.include_router(router)
    # The member-site client of e-venement calls /tck.php/api/v2/… (spec 55).
    app.include_router(carts.router, prefix="/tck.php", include_in_schema=False)
    docs.install(app)
    return app


def create_codec_app(settings: Settings) -> FastAPI:
    """`guichet codec-server`: the Temporal Web UI's remote codec, over the
    payload keys (GUICHET_PAYLOAD_KEYS), for admin tokens, callable from the
    UI's origin (GUICHET_CODEC_CORS_ORIGINS)."""
    app = FastAPI(title="Guichet payload codec", version="0.1.0", openapi_url=None)
    app.state.settings = settings
    app.state.codec = AesGcmCodec(settings.payload_keys)
    install_error_handlers(app)
    app.include_router(codec.router)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.codec_cors_origins,
        allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        allow_credentials=True,
        max_age=600,
    )
    return app


def codec_app_from_environment() -> FastAPI:
    """uvicorn's factory (`guichet codec-server`)."""
    from settings import get_settings

    return create_codec_app(get_settings())


def app_from_environment() -> FastAPI:
    """uvicorn's factory (`guichet api`): settings from GUICHET_* variables."""
    from logs import configure_logging
    from settings import get_settings

    settings = get_settings()
    configure_logging(level=settings.log_level, log_format=settings.log_format)
    app = create_app(settings)
    # What is loaded by now lives as long as the process: out of the
    # collector's sight, full collections no longer walk it on the hot paths.
    gc.collect()
    gc.freeze()
    return app
