"""A fake catalogue service: academies (paginated with `next` links) and an
enterprise customer's catalogs, as the real service serves them; `down`
makes every answer a 503."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

PAGE_SIZE = 2


@dataclass
class FakeCatalogService:
    academies: list[dict[str, Any]] = field(default_factory=list)
    catalog_query_id: int | None = None
    # Several enterprise catalogs (their catalog_query_id as the service
    # sends them, a bad one included); else the one above.
    catalog_query_ids: list[Any] = field(default_factory=list)
    down: bool = False
    requests: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/api/v1/academies/")
        async def academies(request: Request, page: int = 1) -> Response:
            return self._page(request, self.academies, page)

        @app.get("/api/v2/enterprise-catalogs/")
        async def catalogs(request: Request, page: int = 1) -> Response:
            ids = self.catalog_query_ids or (
                [self.catalog_query_id] if self.catalog_query_id else []
            )
            rows = [{"uuid": f"c{n}", "catalog_query_id": value} for n, value in enumerate(ids)]
            return self._page(request, rows, page)

        return app

    def _page(self, request: Request, rows: list[dict[str, Any]], page: int) -> Response:
        self.requests += 1
        if self.down:
            return Response(status_code=503)
        start = (page - 1) * PAGE_SIZE
        more = start + PAGE_SIZE < len(rows)
        following = str(request.url.include_query_params(page=page + 1)) if more else None
        return JSONResponse(
            {"count": len(rows), "next": following, "results": rows[start : start + PAGE_SIZE]}
        )


def academy(number: int, **fields: Any) -> dict[str, Any]:
    """An academy as the catalogue service describes it."""
    return {
        "uuid": f"00000000-0000-4000-8000-{number:012d}",
        "title": f"Academy {number}",
        "short_description": f"About academy {number}.",
        "long_description": "",
        "image": f"/media/academy-{number}.png",
        "tags": [{"title": "Data"}],
    } | fields
