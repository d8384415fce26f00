"""A webhook endpoint that keeps what a provider delivers, exactly as sent
(body bytes and signature header), so a test can deliver it again later, in
another order, several times: what a provider's retries look like."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI, Request, Response


@dataclass(frozen=True)
class Delivery:
    body: bytes
    headers: dict[str, str]


@dataclass
class WebhookInbox:
    kept_headers: tuple[str, ...]
    deliveries: list[Delivery] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{path:path}")
        async def receive(request: Request) -> Response:
            headers = {
                name: request.headers[name] for name in self.kept_headers if name in request.headers
            }
            self.deliveries.append(Delivery(await request.body(), headers))
            return Response(status_code=200)

        return app
