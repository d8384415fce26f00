"""A fake LMS: receives Guichet's enrollment notifications and checks their HMAC."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response

from integrations.lms import SIGNATURE_HEADER, signature


@dataclass
class FakeLms:
    secret: str
    received: list[dict[str, Any]] = field(default_factory=list)
    # True: every notification is answered 503 (the LMS is down).
    down: bool = False

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/enrollments")
        async def receive(request: Request) -> Response:
            body = await request.body()
            if self.down:
                return Response(status_code=503)
            if request.headers.get(SIGNATURE_HEADER) != signature(self.secret, body):
                return Response(status_code=401)
            self.received.append(json.loads(body))
            return Response(status_code=204)

        return app
