"""A fake of Stripe's billing side, which localstripe lacks: Customers,
Checkout Sessions in subscription mode, Subscriptions (cancel at period end)
and the Events list, beside the Prices of FakeStripePrices, with Stripe's
form-encoded requests, idempotency keys and object shapes.

The test plays Stripe's part after the learner's payment: `complete` a
session (the subscription opens, its first invoice is paid), `renew`,
`fail_payment`, `delete`. Each makes the events Stripe would, kept in the
list `GET /v1/events` serves; `signed` makes the webhook delivery of one, so
a test delivers them late, out of order, or never (the backfill's case)."""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tests.fakes.stripe_prices import FakeStripePrices

MONTH = 30 * 24 * 3600
_KEY = re.compile(r"([^\[\]]+)|\[([^\[\]]*)\]")


def decode_form(body: bytes) -> dict[str, Any]:
    """Stripe's nested form encoding (`a[b][0][c]=v`) as dicts and lists."""
    root: dict[str, Any] = {}
    for name, value in parse_qsl(body.decode(), keep_blank_values=True):
        parts = [first or second for first, second in _KEY.findall(name)]
        node: Any = root
        for part, following in itertools.pairwise(parts):
            default: Any = [] if following.isdigit() else {}
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(default)
                node = node[index]
            else:
                node = node.setdefault(part, default)
        last = parts[-1]
        if isinstance(node, list):
            node.append(value)
        else:
            node[last] = value
    return root


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


@dataclass
class FakeStripeBilling(FakeStripePrices):
    # Unix seconds, Stripe's clock: tests move it to order events.
    clock: int = field(default_factory=lambda: int(time.time()))
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    # Idempotency-Key → the answer given to it.
    answered: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Set: checkout sessions are refused as Stripe refuses a deleted price.
    refuse_sessions: bool = False
    session_requests: int = 0
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def _id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):06d}"

    def app(self) -> FastAPI:
        app = super().app()

        @app.post("/v1/customers")
        async def create_customer(request: Request) -> Response:
            params = decode_form(await request.body())
            return self._once(request, lambda: self._customer(params))

        @app.post("/v1/checkout/sessions")
        async def create_session(request: Request) -> Response:
            params = decode_form(await request.body())
            self.session_requests += 1
            if self.down:
                return _error(500, "api_error", "Stripe is down (fake).")
            if self.refuse_sessions:
                return _error(400, "invalid_request_error", "No such price (fake).")
            return self._once(request, lambda: self._session(params))

        @app.post("/v1/subscriptions/{subscription_id}")
        async def update_subscription(subscription_id: str, request: Request) -> Response:
            params = decode_form(await request.body())
            found = self.subscriptions.get(subscription_id)
            if found is None:
                return _error(404, "invalid_request_error", "No such subscription.")
            if params.get("cancel_at_period_end") == "true":
                found |= {"cancel_at_period_end": True, "cancel_at": found["current_period_end"]}
                self._event("customer.subscription.updated", dict(found))
            return JSONResponse(found)

        @app.get("/v1/events")
        async def list_events(request: Request) -> Response:
            return JSONResponse(self._events_page(request.query_params.multi_items()))

        @app.get("/v1/events/{event_id}")
        async def read_event(event_id: str) -> Response:
            for event in self.events:
                if event["id"] == event_id:
                    return JSONResponse(event)
            return _error(404, "invalid_request_error", "No such event.")

        return app

    def _once(self, request: Request, make) -> Response:
        key = request.headers.get("idempotency-key")
        if key and key in self.answered:
            return JSONResponse(self.answered[key])
        answer = make()
        if key:
            self.answered[key] = answer
        return JSONResponse(answer)

    def _customer(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = {"id": self._id("cus"), "object": "customer", **params}
        self.customers[customer["id"]] = customer
        return customer

    def _session(self, params: dict[str, Any]) -> dict[str, Any]:
        session_id = self._id("cs_test")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params.get("mode"),
            "status": "open",
            "payment_status": "unpaid",
            "customer": params.get("customer"),
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata", {}),
            "subscription": None,
            "line_items": params.get("line_items", []),
            "subscription_data": params.get("subscription_data", {}),
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "expires_at": int(params["expires_at"]) if "expires_at" in params else None,
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "amount_total": self._amount(params),
            "currency": "eur",
        }
        self.sessions[session_id] = session
        return session

    def _amount(self, params: dict[str, Any]) -> int:
        price_id = (params.get("line_items") or [{}])[0].get("price")
        found = next((row for row in self.prices if row["id"] == price_id), None)
        return found["unit_amount"] if found else 0

    # --- what Stripe does after the learner's payment ----------------------------------

    def tick(self, seconds: int = 1) -> int:
        self.clock += seconds
        return self.clock

    def _event(self, event_type: str, thing: dict[str, Any]) -> dict[str, Any]:
        event = {
            "id": self._id("evt"),
            "object": "event",
            "type": event_type,
            "created": self.tick(),
            "livemode": False,
            "data": {"object": json.loads(json.dumps(thing))},
        }
        self.events.append(event)
        return event

    def complete(self, session_id: str) -> list[dict[str, Any]]:
        """The learner paid: the subscription opens, its first invoice is
        paid, the session completes (Stripe's order of events)."""
        session = self.sessions[session_id]
        start = self.clock
        subscription = {
            "id": self._id("sub"),
            "object": "subscription",
            "status": "active",
            "customer": session["customer"],
            "metadata": (session["subscription_data"] or {}).get("metadata", {}),
            "cancel_at_period_end": False,
            "cancel_at": None,
            "canceled_at": None,
            "items": {"data": [{"current_period_end": start + MONTH}]},
            "current_period_end": start + MONTH,
        }
        self.subscriptions[subscription["id"]] = subscription
        session |= {"status": "complete", "payment_status": "paid"}
        session["subscription"] = subscription["id"]
        created = self._event("customer.subscription.created", subscription)
        paid = self._invoice("invoice.paid", subscription, "subscription_create", start)
        completed = self._event("checkout.session.completed", session)
        return [created, paid, completed]

    def _invoice(
        self, event_type: str, subscription: dict[str, Any], reason: str, start: int
    ) -> dict[str, Any]:
        amount = self.sessions_amount(subscription)
        paid = event_type == "invoice.paid"
        invoice = {
            "id": self._id("in"),
            "object": "invoice",
            "customer": subscription["customer"],
            "billing_reason": reason,
            "amount_paid": amount if paid else 0,
            "amount_due": amount,
            "currency": "eur",
            "status": "paid" if paid else "open",
            "parent": {
                "type": "subscription_details",
                "subscription_details": {
                    "subscription": subscription["id"],
                    "metadata": subscription["metadata"],
                },
            },
            "lines": {"data": [{"period": {"start": start, "end": start + MONTH}}]},
        }
        return self._event(event_type, invoice)

    def sessions_amount(self, subscription: dict[str, Any]) -> int:
        for session in self.sessions.values():
            if session["subscription"] == subscription["id"]:
                return session["amount_total"]
        return 0

    def renew(self, subscription_id: str) -> list[dict[str, Any]]:
        """A month later: the next invoice paid, the period moved on."""
        subscription = self.subscriptions[subscription_id]
        start = subscription["current_period_end"]
        subscription |= {"current_period_end": start + MONTH, "status": "active"}
        subscription["items"]["data"][0]["current_period_end"] = start + MONTH
        paid = self._invoice("invoice.paid", subscription, "subscription_cycle", start)
        updated = self._event("customer.subscription.updated", subscription)
        return [paid, updated]

    def fail_payment(self, subscription_id: str) -> list[dict[str, Any]]:
        subscription = self.subscriptions[subscription_id]
        start = subscription["current_period_end"]
        subscription["status"] = "past_due"
        failed = self._invoice("invoice.payment_failed", subscription, "subscription_cycle", start)
        updated = self._event("customer.subscription.updated", subscription)
        return [failed, updated]

    def delete(self, subscription_id: str) -> dict[str, Any]:
        subscription = self.subscriptions[subscription_id]
        subscription |= {"status": "canceled", "canceled_at": self.clock, "ended_at": self.clock}
        return self._event("customer.subscription.deleted", subscription)

    def _events_page(self, query: list[tuple[str, str]]) -> dict[str, Any]:
        """Newest first, as Stripe lists them; `created[gte]`, `types[]`,
        `limit`, `starting_after`."""
        params = dict(query)
        types = {value for key, value in query if key.startswith("types")}
        since = int(params.get("created[gte]", 0))
        rows = [
            event
            for event in reversed(self.events)
            if event["created"] >= since and (not types or event["type"] in types)
        ]
        after = params.get("starting_after")
        if after:
            rows = rows[[event["id"] for event in rows].index(after) + 1 :]
        limit = int(params.get("limit", 10))
        return {
            "object": "list",
            "url": "/v1/events",
            "has_more": len(rows) > limit,
            "data": rows[:limit],
        }
