"""A fake Lex Persona server: the endpoints Guichet uses, in memory.

Tests drive it like signers would: `finish_step` / `refuse_step` change a
procedure and post the matching notification to the configured webhook URL
(which Guichet verifies by fetching the event back)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request


@dataclass
class Procedure:
    id: str
    name: str
    steps: list[dict[str, Any]]
    status: str = "draft"
    documents: list[bytes] = field(default_factory=list)


@dataclass
class FakeLexPersona:
    token: str
    user_id: str
    # Where it listens (set once served) and where it posts notifications.
    url: str = ""
    webhook_url: str | None = None
    procedures: dict[str, Procedure] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def authenticate(request: Request, call_next):
            self.requests.append((request.method, request.url.path))
            if request.headers.get("authorization") != f"Bearer {self.token}":
                from fastapi.responses import JSONResponse

                return JSONResponse({"error": "unauthorized"}, status_code=401)
            return await call_next(request)

        @app.post("/api/users/{user_id}/workflows")
        async def create(user_id: str, request: Request) -> dict[str, Any]:
            if user_id != self.user_id:
                raise HTTPException(404)
            body = await request.json()
            procedure = Procedure(
                id=f"wfl_{uuid.uuid4().hex[:12]}",
                name=body["name"],
                steps=[step | {"isFinished": False} for step in body["steps"]],
            )
            self.procedures[procedure.id] = procedure
            return {"id": procedure.id, "workflowStatus": procedure.status}

        @app.post("/api/workflows/{procedure_id}/parts")
        async def upload(procedure_id: str, request: Request) -> dict[str, Any]:
            procedure = self._procedure(procedure_id)
            document = await request.body()
            procedure.documents.append(document)
            return {"documents": [{"id": "doc_1", "sha256": hashlib.sha256(document).hexdigest()}]}

        @app.patch("/api/workflows/{procedure_id}")
        async def change(procedure_id: str, request: Request) -> dict[str, Any]:
            procedure = self._procedure(procedure_id)
            procedure.status = (await request.json())["workflowStatus"]
            return self._view(procedure)

        @app.get("/api/workflows/{procedure_id}")
        async def read(procedure_id: str) -> dict[str, Any]:
            return self._view(self._procedure(procedure_id))

        @app.post("/api/workflows/{procedure_id}/invite")
        async def invite(procedure_id: str, request: Request) -> dict[str, Any]:
            procedure = self._procedure(procedure_id)
            email = (await request.json())["recipientEmail"]
            return {
                "inviteUrl": f"https://sign.lex-persona.example/invite/{procedure.id}?to={email}"
            }

        @app.get("/api/webhookEvents/{event_id}")
        async def event(event_id: str) -> dict[str, Any]:
            if event_id not in self.events:
                raise HTTPException(404)
            return self.events[event_id]

        return app

    def _procedure(self, procedure_id: str) -> Procedure:
        if procedure_id not in self.procedures:
            raise HTTPException(404)
        return self.procedures[procedure_id]

    @staticmethod
    def _view(procedure: Procedure) -> dict[str, Any]:
        return {
            "id": procedure.id,
            "name": procedure.name,
            "workflowStatus": procedure.status,
            "steps": procedure.steps,
        }

    async def finish_step(self, procedure_id: str, index: int) -> dict[str, Any]:
        procedure = self.procedures[procedure_id]
        procedure.steps[index]["isFinished"] = True
        if all(step["isFinished"] for step in procedure.steps):
            procedure.status = "finished"
        return await self._notify(procedure, "recipientFinished", index)

    async def refuse_step(self, procedure_id: str, index: int) -> dict[str, Any]:
        procedure = self.procedures[procedure_id]
        procedure.status = "refused"
        return await self._notify(procedure, "recipientRefused", index)

    async def _notify(self, procedure: Procedure, event_type: str, index: int) -> dict[str, Any]:
        event = {
            "id": f"evt_{uuid.uuid4().hex[:12]}",
            "eventType": event_type,
            "workflowId": procedure.id,
            "stepIndex": index,
        }
        self.events[event["id"]] = event
        if self.webhook_url:
            async with httpx.AsyncClient() as client:
                await client.post(self.webhook_url, json={"id": event["id"]})
        return event
