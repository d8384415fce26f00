"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.errors import error_response
from services import health

router = APIRouter(tags=["ops"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database and Temporal are reachable",
    responses={503: {"description": "A dependency is unreachable"}},
)
async def readyz(request: Request) -> Response:
    checks = await health.readiness(
        engine=request.app.state.engine, temporal=request.app.state.temporal
    )
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
