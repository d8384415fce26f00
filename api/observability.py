"""Prometheus metrics and one structured log line per request.

A plain ASGI middleware (not BaseHTTPMiddleware): it costs little on the hot
read paths. Routes are labelled by their template (`/api/v1/offerings/{id}`),
never by the raw path, so label cardinality stays bounded."""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("guichet.request")

UNMATCHED_ROUTE = "<unmatched>"


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "guichet_http_requests_total",
            "HTTP requests by route template, method and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "guichet_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["method", "route"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        # Business metrics of the API (the worker's are in activities/metrics.py).
        self.webhook_to_signal = Histogram(
            "guichet_webhook_to_signal_seconds",
            "From a provider's webhook received to its news signalled to the "
            "workflow (stored once, verified), by provider.",
            ["source"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.promo_activations = Counter(
            "guichet_promo_activations_total",
            "Promo-code activations by outcome (activated, or why not).",
            ["outcome"],
            registry=registry,
        )


def timed_webhook(request: Any, source: str, started: float) -> None:
    """A webhook handled (stored and signalled, or a duplicate): its time."""
    request.app.state.metrics.webhook_to_signal.labels(source).observe(
        time.perf_counter() - started
    )


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", UNMATCHED_ROUTE)


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics
        # The labelled series, found once each: `labels()` validates and
        # locks on every call, a cost each request paid twice.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        request_id = _request_id(scope)

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self._record(scope, status, time.perf_counter() - started, request_id)

    def _record(self, scope: Scope, status: int, elapsed: float, request_id: str) -> None:
        route = route_template(scope)
        method = scope["method"]
        self._counter(method, route, status).inc()
        self._timer(method, route).observe(elapsed)
        # The path only: query strings may carry codes or tokens.
        path = _logged_path(scope, route)
        logger.info(
            "%s %s %s",
            method,
            path,
            status,
            extra={
                "fields": {
                    "method": method,
                    "path": path,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "request_id": request_id,
                }
            },
        )

    def _counter(self, method: str, route: str, status: int) -> Any:
        key = (method, route, status)
        found = self._counters.get(key)
        if found is None:
            found = self._counters[key] = self.metrics.requests.labels(method, route, str(status))
        return found

    def _timer(self, method: str, route: str) -> Any:
        key = (method, route)
        found = self._timers.get(key)
        if found is None:
            found = self._timers[key] = self.metrics.latency.labels(method, route)
        return found


# A request id from the client is kept only if it is one: letters, digits,
# `.`, `_`, `-` (it is logged and sent back as a header).
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")
# Paths that are capabilities (whoever has the URL may act): logged as their
# route template, never as the URL itself.
CAPABILITY_PATHS = ("/api/v1/dummy-signature/", "/api/v1/dummy-payments/")


# Ours: this process's random half, then a count. Unique across processes
# and restarts like a uuid4 (32 hex digits), without a syscall per request.
_PROCESS_ID = os.urandom(8).hex()
_NUMBERS = itertools.count()


def _new_process_id() -> None:
    """A forked child (a pre-forking server) counts under a half of its own."""
    global _PROCESS_ID, _NUMBERS
    _PROCESS_ID, _NUMBERS = os.urandom(8).hex(), itertools.count()


os.register_at_fork(after_in_child=_new_process_id)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id" and _REQUEST_ID.fullmatch(value):
            return value.decode()
    return f"{_PROCESS_ID}{next(_NUMBERS):016x}"


def _logged_path(scope: Scope, route: str) -> str:
    path: str = scope["path"]
    return route if path.startswith(CAPABILITY_PATHS) else path
