"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.errors import error_response
from integrations import temporal

router = APIRouter(tags=["ops"])
logger = logging.getLogger("guichet.api")


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _database_ok(request: Request) -> bool:
    try:
        async with request.app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True
    except Exception:
        logger.warning("readiness: database unreachable", exc_info=True)
        return False


@router.get(
    "/readyz",
    summary="Readiness: the database and Temporal are reachable",
    responses={503: {"description": "A dependency is unreachable"}},
)
async def readyz(request: Request) -> Response:
    checks = {
        "database": "ok" if await _database_ok(request) else "unreachable",
        "temporal": "ok"
        if await temporal.is_reachable(request.app.state.temporal)
        else "unreachable",
    }
    if all(value == "ok" for value in checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    return error_response(503, "not_ready", "A dependency is unreachable.", checks)


@router.get(
    "/metrics",
    summary="Prometheus metrics of the API process",
    response_class=PlainTextResponse,
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
)
async def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
