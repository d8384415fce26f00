"""A proxy in front of the Stripe fake that holds PaymentIntent confirmations.

Each request is forwarded at once, so Stripe charges the card; the answer to
a confirmation is held `hold` seconds. While `held` is non-zero, a worker has
a charge made at Stripe that it has not recorded: the window a crash-safety
test kills it in.
"""

from __future__ import annotations

import asyncio
import re

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

CONFIRM = re.compile(r"^/v1/payment_intents/[^/]+/confirm$")
# Hop-by-hop and length headers are the proxy's own business.
DROPPED = frozenset({"host", "content-length", "connection", "transfer-encoding"})


class ConfirmHoldingProxy:
    def __init__(self, *, upstream: str, hold: float) -> None:
        self.upstream = upstream
        self.hold = hold
        self.held = 0
        self.confirmations = 0

    def app(self) -> Starlette:
        methods = ["GET", "POST", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", self._forward, methods=methods)])

    async def _forward(self, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED}
        async with httpx.AsyncClient(base_url=self.upstream, timeout=30) as client:
            answer = await client.request(
                request.method,
                request.url.path,
                params=request.query_params,
                content=await request.body(),
                headers=headers,
            )
        if request.method == "POST" and CONFIRM.match(request.url.path):
            self.confirmations += 1
            self.held += 1
            try:
                await asyncio.sleep(self.hold)
            finally:
                self.held -= 1
        return Response(
            answer.content,
            status_code=answer.status_code,
            media_type=answer.headers.get("content-type"),
        )
