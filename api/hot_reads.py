"""The two public reads learners' pages hit hardest, answered from the read
cache before the framework routes them.

A deep link and the academy catalogue change only when an admin writes or
the catalogue sync runs, yet each page view went through Starlette's
middleware, routing and FastAPI's dependency and response machinery: about
half the time of a request the cache had already answered
(BENCHMARKS.md, read_api). Here, inside the request log, the metrics and
CORS (so each such request is still logged, counted and given its CORS
headers), a GET whose answer the cache holds is sent at once:

- `/api/v1/offerings/{id}/deep-link`: the offering's active links are in the
  cache; one is drawn at random, as the route draws it;
- `/api/v1/academy-products`: the route already answered this very query
  string; the per-IP throttle is counted here as the route counts it.

Anything else, and every first request, goes to the routes, which validate,
load and fill the cache: nothing is answered here that a route did not
validate first, and the bodies are the routes' own (`served_body`, the
cached page)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import APIRouter
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import domain_error_response
from api.routers import academies, deep_links
from domain.errors import RateLimited
from services import deep_links as deep_link_services

# The canonical spelling only: any other goes to the route, which knows them all.
DEEP_LINK = re.compile(
    r"/api/v1/offerings/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/deep-link"
)
ACADEMY_PRODUCTS = "/api/v1/academy-products"
JSON = b"application/json"


def route_of(router: APIRouter, endpoint: Any) -> BaseRoute:
    """The route an answer stands for: the request log and the metrics name
    it by its template, as if it had been routed."""
    return next(route for route in router.routes if getattr(route, "endpoint", None) is endpoint)


class HotReads:
    def __init__(self, app: ASGIApp, *, state: Any) -> None:
        self._app = app
        self._state = state
        self._deep_link_route = route_of(deep_links.public_router, deep_links.served_deep_link)
        self._products_route = route_of(academies.public_router, academies.list_products)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and await self._answered(scope, receive, send)
        ):
            return
        await self._app(scope, receive, send)

    async def _answered(self, scope: Scope, receive: Receive, send: Send) -> bool:
        path = scope["path"]
        if path == ACADEMY_PRODUCTS:
            return await self._academy_products(scope, receive, send)
        if path.endswith("/deep-link"):
            return await self._deep_link(scope, send)
        return False

    async def _deep_link(self, scope: Scope, send: Send) -> bool:
        match = DEEP_LINK.fullmatch(scope["path"])
        if match is None:
            return False
        held, link = deep_link_services.served_if_cached(
            cache=self._state.read_cache, offering_id=uuid.UUID(match[1])
        )
        if not held:
            return False
        scope["route"] = self._deep_link_route
        await _send_json(send, deep_links.served_body(link))
        return True

    async def _academy_products(self, scope: Scope, receive: Receive, send: Send) -> bool:
        cache = self._state.read_cache
        held, key = cache.peek(academies.products_query_key(scope["query_string"]))
        held, body = cache.peek(key) if held else (False, None)
        if not held:
            return False
        scope["route"] = self._products_route
        try:
            await academies.throttle_client(self._state, scope.get("client"))
        except RateLimited as refused:
            await domain_error_response(refused)(scope, receive, send)
            return True
        await _send_json(send, body)
        return True


async def _send_json(send: Send, body: bytes) -> None:
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", JSON)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
