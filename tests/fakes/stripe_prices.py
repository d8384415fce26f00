"""A fake of Stripe's Prices API (localstripe has none): `GET /v1/prices`
with `active`, `limit`, `starting_after` and `expand[]=data.product`, in
Stripe's list shape; `down` makes it answer 500."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse


@dataclass
class FakeStripePrices:
    prices: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v1/prices")
        async def prices(request: Request) -> Response:
            if self.down:
                error = {"error": {"type": "api_error", "message": "Stripe is down (fake)."}}
                return JSONResponse(error, status_code=500)
            query = request.query_params
            limit = int(query.get("limit", 10))
            rows = [row for row in self.prices if row["active"] or query.get("active") != "true"]
            after = query.get("starting_after")
            if after:
                rows = rows[[row["id"] for row in rows].index(after) + 1 :]
            # The SDK sends expand[0]=…; curl users send expand[]=….
            expand = any(
                key.startswith("expand") and value == "data.product"
                for key, value in query.multi_items()
            )
            data = [self._shaped(row, expand) for row in rows[:limit]]
            return JSONResponse(
                {"object": "list", "url": "/v1/prices", "has_more": len(rows) > limit, "data": data}
            )

        return app

    @staticmethod
    def _shaped(row: dict[str, Any], expand: bool) -> dict[str, Any]:
        product = {"id": row["product"], "object": "product"} if expand else row["product"]
        return row | {"object": "price", "product": product}


def price(number: int, lookup_key: str | None, *, recurring: bool = True, amount: int = 2900):
    return {
        "id": f"price_{number}",
        "active": True,
        "product": f"prod_{number}",
        "lookup_key": lookup_key,
        "currency": "eur",
        "unit_amount": amount,
        "unit_amount_decimal": str(amount),
        "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"}
        if recurring
        else None,
    }
